"""The realm's cache of account and tax-code names (``connectors.qbo._checks.NameCache``):
bounded by realms (least recently used dropped), expiring, forgotten per realm. Pure logic."""

from __future__ import annotations

from connectors.qbo._checks import NameCache, _Names


def names(at: float) -> _Names:
    return _Names(at, {"GST": "7"}, ("GST",))


def test_the_least_recently_used_realm_is_dropped_past_the_bound() -> None:
    cache = NameCache(realms=2, ttl_s=600.0)
    cache.put("r-1", "TaxCode", names(0.0))
    cache.put("r-2", "TaxCode", names(0.0))
    assert cache.get("r-1", "TaxCode", 1.0) is not None  # r-1 used: r-2 is the oldest now
    cache.put("r-3", "Account", names(0.0))
    assert len(cache) == 2
    assert cache.get("r-2", "TaxCode", 1.0) is None
    assert cache.get("r-1", "TaxCode", 1.0) is not None


def test_a_list_expires_and_a_realm_is_forgotten() -> None:
    cache = NameCache(ttl_s=10.0)
    cache.put("r-1", "TaxCode", names(100.0))
    cache.put("r-1", "Account", names(100.0))
    assert cache.get("r-1", "TaxCode", 109.0) is not None
    assert cache.get("r-1", "TaxCode", 110.0) is None
    cache.forget("r-1")
    assert cache.get("r-1", "Account", 101.0) is None
