from __future__ import annotations

from connectors.qbwc import generate_password, hash_password, verify_password
from connectors.qbwc._passwords import CredentialCache, PasswordChecker


def test_hash_verifies_only_the_right_password() -> None:
    password = generate_password()
    stored = hash_password(password, n=2**10)
    assert password not in stored
    assert stored.startswith("scrypt$1024$")
    assert verify_password(password, stored)
    assert not verify_password(password + "x", stored)


def test_same_password_hashes_differently() -> None:
    assert hash_password("secret", n=2**10) != hash_password("secret", n=2**10)


def test_unknown_user_never_verifies() -> None:
    assert not verify_password("anything", None)


def test_generated_passwords_are_long_and_distinct() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert min(len(p) for p in passwords) >= 20


def test_credential_cache_hits_only_the_same_password_and_hash() -> None:
    cache = CredentialCache()
    cache.remember("user", "right", "hash-1")
    assert cache.hit("user", "right", "hash-1")
    assert not cache.hit("user", "wrong", "hash-1")
    assert not cache.hit("user", "right", "hash-2")  # the password was reset
    assert not cache.hit("other", "right", "hash-1")


def test_credential_cache_entries_expire() -> None:
    cache = CredentialCache(ttl=-1.0)
    cache.remember("user", "right", "hash-1")
    assert not cache.hit("user", "right", "hash-1")


def test_credential_cache_holds_no_password() -> None:
    cache = CredentialCache()
    cache.remember("user", "hunter2-secret", "hash-1")
    assert "hunter2-secret" not in repr(cache.__dict__)


def test_a_credential_cache_hit_extends_the_entry() -> None:
    """A Web Connector polling within the ttl never pays scrypt again; one that stops
    polling for longer does."""
    now = [0.0]
    cache = CredentialCache(ttl=900.0, clock=lambda: now[0])
    cache.remember("user", "right", "hash-1")
    for minute in range(1, 61):  # an hour of polls once a minute
        now[0] = minute * 60.0
        assert cache.hit("user", "right", "hash-1")
    now[0] += 899.0
    assert not cache.hit("user", "wrong", "hash-1")  # a miss does not extend it...
    now[0] += 2.0
    assert not cache.hit("user", "right", "hash-1")  # ...so the entry ran out


def test_each_scrypt_check_reports_its_cpu_and_a_busy_one_reports_nothing() -> None:
    checks: list[float] = []
    checker = PasswordChecker(concurrency=1, wait=0.0, on_check=checks.append)
    stored = hash_password("right", n=2**12)
    assert checker.verify("right", stored) is True
    assert checker.verify("wrong", None) is False  # the dummy hash: a full check too
    assert len(checks) == checker.derivations == 2
    assert all(cpu > 0 for cpu in checks)
    with checker.slot() as held:
        assert held
        assert checker.verify("right", stored) is None  # no slot free: unchecked
    assert len(checks) == 2
