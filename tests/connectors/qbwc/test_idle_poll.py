"""An idle poll (authenticate -> "none") is answered from memory: no database statement and
no broker request, once the work index has read the broker and the profile was read once.
The same gateway still finds a file's work when a command arrives (so "none" is not a
gateway that sees nothing)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka import CommandQueue, WorkIndex
from connectors.qbwc import create_gateway, create_profile, reset_password, set_enabled
from connectors.qbwc._profile_cache import ProfileCache
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, enqueue
from tests.support.statements import counting_statements
from tests.support.waiting import until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("imports", ["", "customer,item"], ids=["no-imports", "imports-done"])
def test_an_idle_poll_touches_neither_the_database_nor_the_broker(
    broker: BrokerInfo, settings: Settings, imports: str
) -> None:
    """With imports configured (the default) and done, the same: when the next one is due
    is known in memory (connectors.qbwc._import_schedule)."""
    use_broker(settings, broker)
    settings.gateway.work_index_s = 0.2
    settings.gateway.profile_cache_s = 60.0
    settings.gateway.imports = imports
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name=f"Idle {uuid.uuid4().hex[:6]}", tenants=["t-1"])
    for entity in settings.gateway.import_entities:
        store.complete_import(profile.profile.id, entity, None, 0)
    gateway = create_gateway(settings)
    try:
        conversation = gateway.conversation
        queue = conversation._commands
        assert isinstance(queue, CommandQueue)
        index = next(c for c in gateway._closers if isinstance(c, WorkIndex))
        topic = settings.topics.commands(profile.profile.id)
        login = profile.profile.username, profile.password
        assert conversation.authenticate(*login)[1] == "none"  # scrypt once, profile read
        until(lambda: index.pending(topic) == 0, timeout=30, what="the index's first read")

        borrowed: list[int] = []
        borrow = queue._borrow

        def counted() -> Any:
            borrowed.append(1)
            return borrow()

        queue._borrow = counted  # type: ignore[method-assign]  # every broker request of the queue
        with counting_statements() as statements:
            answers = [conversation.authenticate(*login)[1] for _ in range(20)]
        assert answers == ["none"] * 20
        assert statements == []
        assert borrowed == []

        # Not a gateway that sees nothing: a command arrives, a poll soon opens a session.
        served = Served("", settings, store, profile, AvroCodec())
        enqueue(served, "Ada")
        opened = until(
            lambda: [s for s in [conversation.authenticate(*login)[1]] if s != "none"],
            timeout=30,
            what="a poll that sees the new command",
        )
        assert opened == [profile.profile.company_file]
    finally:
        gateway.close()
        store.close()


def test_a_cached_profile_is_read_again_once_its_time_is_up(tmp_path: Path) -> None:
    """A disabled profile or a reset password takes effect within the cache's time."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    store = Store(url)
    profile = create_profile(store, name="Cached", tenants=["t-1"]).profile
    now = [0.0]
    cache = ProfileCache(store, 1.0, clock=lambda: now[0])
    try:
        first = cache.by_username(profile.username)
        assert first is not None
        assert first.enabled
        set_enabled(store, profile.id, enabled=False)
        now[0] = 0.9
        cached = cache.by_username(profile.username)
        assert cached is not None
        assert cached.enabled  # within the second: the cached read
        now[0] = 1.1
        again = cache.by_username(profile.username)
        assert again is not None
        assert not again.enabled
        assert cache.by_username("nobody") is None
        assert ProfileCache(store, 0.0).by_username(profile.username) is not None
    finally:
        store.close()


def test_cached_profiles_are_checked_in_bulk_not_read_one_by_one(tmp_path: Path) -> None:
    """Past the cache's time, polls of many profiles cost one statement for all of them,
    and what changed (a reset password, a disabled profile) is read again."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    store = Store(url)
    names = [create_profile(store, name=f"Bulk {i}", tenants=[f"t-{i}"]) for i in range(5)]
    now = [0.0]
    cache = ProfileCache(store, 1.0, clock=lambda: now[0])
    try:
        first = {n.profile.username: cache.by_username(n.profile.username) for n in names}
        assert all(profile is not None for profile in first.values())
        reset = reset_password(store, names[0].profile.id)
        set_enabled(store, names[1].profile.id, enabled=False)
        now[0] = 1.5  # past the cache's time: one bulk check, then from memory
        with counting_statements() as statements:
            again = {n.profile.username: cache.by_username(n.profile.username) for n in names[2:]}
        assert len(statements) == 1, statements
        assert cache.bulk_checks == 1
        assert all(again[name] is first[name] for name in again)  # the same cached objects
        # The two that changed were dropped by the check: read again, as they are now.
        with counting_statements() as statements:
            changed = cache.by_username(names[0].profile.username)
            disabled = cache.by_username(names[1].profile.username)
        assert len(statements) == 2
        assert changed is not None
        assert changed.password_hash == reset.profile.password_hash
        assert disabled is not None
        assert not disabled.enabled
        # Nobody checked them for twice the cache's time (no call came): read one by one.
        now[0] = 10.0
        cache._checking.acquire()  # a bulk check running in another thread
        try:
            with counting_statements() as statements:
                assert cache.by_username(names[2].profile.username) is not None
            assert len(statements) == 1
            assert "WHERE profiles.username" in statements[0]
        finally:
            cache._checking.release()
    finally:
        store.close()
