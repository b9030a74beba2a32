"""Login throttling on the real store (SQLite and PostgreSQL): counters without lost updates,
unknown names throttled like known ones, the same answer and the same path whether a name
exists or not, and scrypt work bounded per process. Assertions are on which path ran (how
many scrypt derivations, how many at once), never on durations."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

import connectors.qbwc._passwords as passwords_module
from connectors.qbwc import (
    GatewayConfig,
    LoginPolicy,
    WebConnectorGateway,
    create_profile,
    throttle_key,
)
from connectors.store import LoginThrottle, Store, upgrade
from core.contracts import AvroCodec
from tests.support.statements import counting_statements

pytestmark = pytest.mark.integration

_SCRYPT = hashlib.scrypt


class Pending:
    """A command source with one command waiting for every file (authenticate opens a
    session); the exchange itself is not under test here."""

    def pending(self, profile_id: str) -> int:
        return 1

    def fetch(
        self, profile_id: str, max_count: int, max_bytes: int, *, start: int | None = None
    ) -> list[Any]:
        return []

    def commit(self, profile_id: str, next_offset: int, *, wait: bool = True) -> None:
        return None

    def flush(self, profile_id: str) -> None:
        return None


@dataclass
class ScryptSpy:
    """Counts scrypt derivations and the most running at once (wraps hashlib.scrypt as the
    password module calls it)."""

    calls: int = 0
    active: int = 0
    most: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Event | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        with self.lock:
            self.calls += 1
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            if self.gate is not None:
                self.gate.wait(10)
            return _SCRYPT(*args, **kwargs)
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ScryptSpy:
    found = ScryptSpy()
    monkeypatch.setattr(passwords_module.hashlib, "scrypt", found)
    return found


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    upgrade(database_url)
    opened = Store(database_url)
    yield opened
    opened.close()


class Idle(Pending):
    """A command source with nothing waiting (authenticate answers "none")."""

    def pending(self, profile_id: str) -> int:
        return 0


def gateway(store: Store, commands: Pending | None = None, **config: Any) -> WebConnectorGateway:
    return WebConnectorGateway(
        store=store,
        commands=commands or Pending(),
        sink=None,  # type: ignore[arg-type]  # authenticate sends nothing
        codec=AvroCodec(),
        config=GatewayConfig(
            results_topic="r",
            dead_letters_topic="d",
            commands_topic_prefix="c.",
            login=LoginPolicy(
                first_lockout=timedelta(minutes=5),
                **{"kdf_wait": 30.0, **config},  # a loaded machine is not a busy answer here
            ),
        ),
    )


def failures(store: Store, username: str) -> int:
    row = store.login_throttle(throttle_key(username))
    return 0 if row is None else row.failures


def test_40_parallel_wrong_passwords_count_40_and_the_lockout_holds(
    store: Store, spy: ScryptSpy
) -> None:
    profile = create_profile(store, name="Ada Co", tenants=["t-1"])
    spy.calls = 0  # creating the profile hashed its password
    conversation = gateway(store, kdf_concurrency=8, kdf_wait=30.0)
    username = profile.profile.username
    with ThreadPoolExecutor(40) as pool:
        answers = list(
            pool.map(lambda i: conversation.authenticate(username, f"guess-{i}"), range(40))
        )
    assert {status for _, status in answers} == {"nvu"}
    assert failures(store, username) == 40  # no lost update
    # Five free attempts, then one at a time: the 6th takes the lockout, the rest are refused
    # without a check.
    assert spy.calls <= 6, spy.calls
    # Locked now: even the right password is not checked ...
    before = spy.calls
    assert conversation.authenticate(username, profile.password)[1] == "nvu"
    assert spy.calls == before
    # ... until the lockout passes.
    store.lift_lockout(throttle_key(username))
    assert conversation.authenticate(username, profile.password)[1] == ""
    assert failures(store, username) == 0


def test_unknown_names_are_throttled_per_name_like_known_ones(store: Store, spy: ScryptSpy) -> None:
    profile = create_profile(store, name="Ada Co", tenants=["t-1"])
    conversation = gateway(store, free_failures=3)
    for name in ("nobody", profile.profile.username):
        spy.calls = 0
        answers = [conversation.authenticate(name, "guess") for _ in range(8)]
        assert [status for _, status in answers] == ["nvu"] * 8
        assert spy.calls == 3, (name, spy.calls)  # the free ones; then locked, unchecked
        assert failures(store, name) == 8
    # Another unknown name is not locked by the first one's failures.
    spy.calls = 0
    conversation.authenticate("somebody-else", "guess")
    assert spy.calls == 1


def test_answers_and_paths_are_the_same_whether_the_name_exists_or_not(
    store: Store, spy: ScryptSpy
) -> None:
    profile = create_profile(store, name="Ada Co", tenants=["t-1"])
    conversation = gateway(store, free_failures=2)
    known, unknown = profile.profile.username, "no-such-user"
    seen: dict[str, list[tuple[int, int]]] = {}
    for name in (known, unknown):
        steps = []
        for _ in range(4):  # wrong, wrong (locks), locked, locked
            spy.calls = 0
            answer = conversation.authenticate(name, "wrong")
            steps.append((len(answer), spy.calls))
            assert answer[1] == "nvu"
            assert len(answer[0]) >= 32  # a ticket either way
        seen[name] = steps
    assert seen[known] == seen[unknown] == [(2, 1), (2, 1), (2, 0), (2, 0)]


def test_the_global_limit_throttles_every_name_without_a_verified_password(
    store: Store, spy: ScryptSpy
) -> None:
    verified = create_profile(store, name="Verified Co", tenants=["t-1"])
    other = create_profile(store, name="Other Co", tenants=["t-2"])
    conversation = gateway(store, global_failures_per_minute=3)
    assert conversation.authenticate(verified.profile.username, verified.password)[1] == ""
    for attempt in range(3):
        for i in range(3):  # three different unknown names, one failure each
            conversation.authenticate(f"spray-{attempt}-{i}", "guess")
        spy.calls = 0
        fresh = conversation.authenticate(f"spray-{attempt}-fresh", "guess")
        right_but_unverified = conversation.authenticate(other.profile.username, other.password)
        if spy.calls == 0:
            break  # else the minute turned over between the failures and the check: again
    assert spy.calls == 0
    assert fresh[1] == "nvu"
    assert right_but_unverified[1] == "nvu"
    # A Web Connector whose password was verified recently still gets in.
    assert conversation.authenticate(verified.profile.username, verified.password)[1] == "busy"


def test_scrypt_work_is_bounded_per_process_and_other_calls_still_answer(
    store: Store, spy: ScryptSpy
) -> None:
    conversation = gateway(store, kdf_concurrency=2, kdf_wait=10.0)
    spy.gate = threading.Event()
    with ThreadPoolExecutor(16) as pool:
        burst = [pool.submit(conversation.authenticate, f"burst-{i}", "guess") for i in range(16)]
        # While the burst holds every slot, a call that needs no scrypt answers at once.
        assert conversation.server_version() == "qbsync"
        spy.gate.set()
        answers = [future.result(timeout=60) for future in burst]
    assert spy.most == 2
    assert spy.calls == 16
    assert {status for _, status in answers} == {"nvu"}


@contextmanager
def only_slot_taken(store: Store, spy: ScryptSpy) -> Iterator[WebConnectorGateway]:
    """A gateway with one scrypt slot, held by a guess until the block ends."""
    conversation = gateway(store, kdf_concurrency=1, kdf_wait=0.0)
    spy.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        holding = pool.submit(conversation.authenticate, "holder", "guess")
        while spy.active == 0:
            spy.gate.wait(0.01)
        yield conversation
        spy.gate.set()
        assert holding.result(timeout=30)[1] == "nvu"
    spy.gate = None


def test_a_login_that_finds_no_free_slot_is_busy_and_unchecked(
    store: Store, spy: ScryptSpy
) -> None:
    with only_slot_taken(store, spy) as conversation:
        assert conversation.authenticate("second", "guess")[1] == "busy"
    assert spy.calls == 1


def test_busy_answers_are_not_attempts_a_web_connector_retrying_is_never_locked_out(
    store: Store, spy: ScryptSpy
) -> None:
    """A burst of first polls (thousands of files after a restart) answers "busy" while
    the scrypt slots are taken; those retries must not count toward the name's lockout."""
    known = create_profile(store, name="Retry Co", tenants=["t-r"])
    with only_slot_taken(store, spy) as conversation:
        answers = [
            conversation.authenticate(known.profile.username, known.password)[1]
            for _ in range(LoginPolicy().free_failures * 3)
        ]
        assert failures(store, known.profile.username) == 0
    assert set(answers) == {"busy"}
    # The slot free again: the right password gets in at once (not "throttled" -> "nvu"):
    # a session opens ("": Pending has a command for every file).
    assert conversation.authenticate(known.profile.username, known.password)[1] == ""


def test_counters_of_names_nobody_tried_for_a_day_are_forgotten(store: Store) -> None:
    conversation = gateway(store)
    conversation.authenticate("sprayed-long-ago", "guess")
    with store.engine.begin() as connection:
        connection.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == throttle_key("sprayed-long-ago"))
            .values(last_attempt_at=datetime.now(UTC) - timedelta(days=2))
        )
        # A new minute's first failure prunes: make this one the first of its minute.
        connection.execute(delete(LoginThrottle).where(LoginThrottle.key.startswith("global:")))
    conversation.authenticate("sprayed-now", "guess")
    assert store.login_throttle(throttle_key("sprayed-long-ago")) is None
    assert failures(store, "sprayed-now") == 1


def writes(statements: list[str]) -> list[str]:
    return [
        s for s in statements if s.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
    ]


def test_a_first_login_writes_once_and_a_wrong_one_is_still_counted(
    store: Store, spy: ScryptSpy
) -> None:
    """A Web Connector's first login (its counter clear) reads the counters and writes only
    its first contact; the throttle's rows are written only for a wrong password."""
    profile = create_profile(store, name="First Co", tenants=["t-1"])
    spy.calls = 0
    conversation = gateway(store, Idle())
    username = profile.profile.username
    with counting_statements() as statements:
        assert conversation.authenticate(username, profile.password)[1] == "none"
    assert spy.calls == 1
    assert len(writes(statements)) == 1, writes(statements)
    assert "profiles" in writes(statements)[0]  # the first contact, not a counter
    assert store.login_throttle(throttle_key(username)) is None
    # A new process (no cached credential): a wrong password is counted, a right one then
    # clears the counter again.
    restarted = gateway(store, Idle())
    assert restarted.authenticate(username, "wrong")[1] == "nvu"
    assert failures(store, username) == 1
    assert restarted.authenticate(username, profile.password)[1] == "none"
    assert failures(store, username) == 0
