"""Pure logic: the per-realm limiter on a fake clock, the fault catalog, the client's retry
decisions on a scripted transport (the HTTP behaviour itself is tested against the sandbox)."""

from __future__ import annotations

import threading
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from connectors.qbo import (
    QBO_CATALOG,
    ClientConfig,
    QboClient,
    QboRequest,
    QboResponse,
    QboUnavailable,
    RealmLimiter,
    RealmLimits,
    explain_fault,
)
from connectors.qbo._catalog import explain_code
from connectors.qbxml import Category
from tests.support.waiting import until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_501st_request_in_a_minute_waits_for_the_first_to_age_out() -> None:
    clock = Clock()
    limiter = RealmLimiter(per_minute=500, clock=clock, sleep=clock.sleep)
    for _ in range(500):
        with limiter.slot():
            clock.now += 0.01  # 500 requests in 5 s
    assert clock.slept == []
    with limiter.slot():
        pass
    # The first started at 1000.0: the 501st may start a minute later, plus the headroom
    # for latency (Intuit counts arrivals), not before.
    assert clock.now == pytest.approx(1061.0)


def test_the_41st_batch_request_in_a_minute_waits_and_single_requests_do_not() -> None:
    clock = Clock()
    limiter = RealmLimiter(per_minute=500, clock=clock, sleep=clock.sleep)
    for _ in range(40):
        with limiter.slot(batch=True):
            clock.now += 0.01
    assert clock.slept == []
    assert limiter.wait_s() == 0  # one request alone may go: 40 of the 500 used
    assert limiter.wait_s(batch=True) == pytest.approx(61.0 - 0.4)
    with limiter.slot():
        pass
    assert clock.slept == []
    with limiter.slot(batch=True):
        pass
    # Intuit's 40 batch requests a minute, with the same headroom as the 500.
    assert clock.now == pytest.approx(1061.0)


def test_a_batch_request_is_one_of_the_500() -> None:
    clock = Clock()
    limiter = RealmLimiter(per_minute=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        with limiter.slot(batch=True):
            pass
    assert limiter.wait_s() == pytest.approx(61.0)


def test_retry_after_pauses_the_whole_realm() -> None:
    clock = Clock()
    limiter = RealmLimiter(clock=clock, sleep=clock.sleep)
    limiter.pause(7.5)
    with limiter.slot():
        pass
    assert clock.now == pytest.approx(1007.5)


def test_at_most_ten_requests_hold_a_slot_at_once() -> None:
    limiter = RealmLimits()("realm")
    inside = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def request() -> None:
        nonlocal inside, peak
        with limiter.slot():
            with lock:
                inside += 1
                peak = max(peak, inside)
            release.wait(5)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=request) for _ in range(15)]
    for thread in threads:
        thread.start()
    until(lambda: inside == 10, what="ten requests inside", timeout=10)
    # Five more wait at the semaphore; none gets in while the ten hold their slots.
    with lock:
        assert inside == 10
    release.set()
    for thread in threads:
        thread.join(10)
    assert peak == 10


@pytest.mark.parametrize(
    ("code", "category", "action"),
    [
        ("6240", Category.PERMANENT, None),
        ("5010", Category.FIX_THEN_RETRY, "refresh-sync-token"),
        ("610", Category.FIX_THEN_RETRY, "forget-mapping"),
        ("6000", Category.PERMANENT, None),
        ("6210", Category.PERMANENT, None),
        ("003001", Category.TRANSIENT, None),
        ("3200", Category.FIX_THEN_RETRY, "refresh-token"),
        ("120", Category.PERMANENT, "reconnect"),
    ],
)
def test_catalog_categories(code: str, category: Category, action: str | None) -> None:
    entry = explain_code(code)
    assert entry.known
    assert (entry.category, entry.action) == (category, action)
    assert entry.explanation
    assert entry.remedy


def test_every_entry_explains_and_remedies() -> None:
    for entry in QBO_CATALOG.values():
        assert entry.title
        assert entry.explanation.endswith(".")
        assert entry.remedy


def test_unknown_codes_and_http_statuses() -> None:
    unknown = explain_code("7777")
    assert (unknown.known, unknown.category) == (False, Category.PERMANENT)
    assert "7777" in unknown.explanation
    assert explain_fault(QboResponse(429)).category is Category.TRANSIENT
    assert explain_fault(QboResponse(503)).category is Category.TRANSIENT
    assert explain_fault(QboResponse(401)).action == "refresh-token"
    fault = {"Fault": {"Error": [{"Message": "Duplicate", "code": "6240"}], "type": "x"}}
    assert explain_fault(QboResponse(400, fault)).title == "Duplicate name"


class Tokens:
    def __init__(self) -> None:
        self.refreshes = 0

    def access_token(self, realm_id: str) -> tuple[SecretStr, int]:
        return SecretStr(f"token-{self.refreshes}"), self.refreshes

    def refreshed(self, realm_id: str, stale_version: int) -> tuple[SecretStr, int]:
        self.refreshes += 1
        return self.access_token(realm_id)


def scripted(*answers: Any) -> tuple[httpx2.Client, list[httpx2.Request]]:
    """A transport that plays ``answers`` in order: an httpx2.Response or an exception."""
    seen: list[httpx2.Request] = []
    queue = list(answers)

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx2.Response)
        return answer

    return httpx2.Client(transport=httpx2.MockTransport(handle)), seen


def client(http: httpx2.Client, tokens: Tokens, slept: list[float]) -> QboClient:
    return QboClient(
        ClientConfig(base_url="http://qbo.test", attempts=4),
        http,
        tokens,
        RealmLimits(),
        sleep=slept.append,
        jitter=lambda: 1.0,
    )


WRITE = QboRequest("r1", "POST", "customer", body={"DisplayName": "A"}, request_id="rid-1")


def test_a_write_is_retried_with_the_same_requestid_after_a_timeout_and_a_500() -> None:
    http, seen = scripted(
        httpx2.ReadTimeout("slow"),
        httpx2.Response(500, json={}),
        httpx2.Response(200, json={"Customer": {"Id": "1"}}),
    )
    slept: list[float] = []
    answer = client(http, Tokens(), slept).send(WRITE)
    assert answer.ok
    assert [r.url.params["requestid"] for r in seen] == ["rid-1"] * 3
    assert all(r.url.params["minorversion"] for r in seen)
    assert slept == [1.0, 2.0]  # backoff 1 s, 2 s (jitter 1.0: the whole of it)


def test_a_401_refreshes_once_then_sends_again() -> None:
    http, seen = scripted(httpx2.Response(401, json={}), httpx2.Response(200, json={}))
    tokens = Tokens()
    assert client(http, tokens, []).send(WRITE).ok
    assert [r.headers["Authorization"] for r in seen] == ["Bearer token-0", "Bearer token-1"]


def test_a_write_without_requestid_is_refused_before_sending() -> None:
    http, seen = scripted()
    with pytest.raises(ValueError, match="requestid"):
        client(http, Tokens(), []).send(QboRequest("r1", "POST", "customer", body={}))
    assert seen == []


def test_unavailable_after_every_attempt_failed() -> None:
    http, _ = scripted(*[httpx2.Response(503, json={})] * 4)
    with pytest.raises(QboUnavailable, match="HTTP 503"):
        client(http, Tokens(), []).send(WRITE)
