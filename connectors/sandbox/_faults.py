"""Fault injection: the failures that matter in production, on demand, per company file.

Two ways in, same effect: the Python API (``company.faults.lock("Ada", requests=2)``) and a
small JSON spec (``qbsync sandbox run --faults faults.json``), read by
:func:`parse_fault_spec` with an error that names the bad field::

    {
      "closing_date": "2024-12-31",
      "locks": [{"record": "Ada Lovelace", "requests": 2}],
      "revoke": ["InvoiceAdd", "ReceivePayment"],
      "unavailable": {"sessions": 1},
      "delay": {"seconds": 0.5, "batches": 3},
      "crash": {"batches": 1}
    }

Every fault counts down and lifts by itself (a lock after refusing N requests, an outage
after N sessions ...), so a test can script "fails twice, then works" without sleeping.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.sandbox._errors import FaultSpecError
from connectors.sandbox._status import HRESULT_UNAVAILABLE

__all__ = ["Crash", "Delay", "FaultSpec", "Faults", "LockSpec", "Unavailable", "parse_fault_spec"]

_UNAVAILABLE_MESSAGE = "Could not start QuickBooks."


@dataclass(frozen=True)
class LockSpec:
    """Another QuickBooks user has ``record`` open: the next ``requests`` requests that touch
    it are refused (3175 for a list element, 3176 for a transaction, 3180 when saving a
    transaction that uses it). ``record`` is a ListID, TxnID, FullName or RefNumber."""

    record: str
    requests: int = 1


@dataclass(frozen=True)
class Unavailable:
    """QuickBooks cannot be opened for the next ``sessions`` sessions (``None``: until
    cleared): the Web Connector calls ``connectionError`` instead of ``sendRequestXML``."""

    sessions: int | None = 1
    hresult: str = HRESULT_UNAVAILABLE
    message: str = _UNAVAILABLE_MESSAGE


@dataclass(frozen=True)
class Delay:
    """Each of the next ``batches`` message sets (``None``: all) is answered ``seconds``
    late."""

    seconds: float
    batches: int | None = None


@dataclass(frozen=True)
class Crash:
    """The next ``batches`` message sets are applied, then QuickBooks dies before answering."""

    batches: int = 1


@dataclass(frozen=True)
class FaultSpec:
    """A whole spec, as read from JSON; :meth:`CompanyFile.apply_faults` installs it."""

    closing_date: date | None = None
    locks: tuple[LockSpec, ...] = ()
    revoke: tuple[str, ...] = ()
    unavailable: Unavailable | None = None
    delay: Delay | None = None
    crash: Crash | None = None


@dataclass
class _State:
    locks: dict[str, int] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    unavailable: Unavailable | None = None
    unavailable_left: int | None = None
    delay: Delay | None = None
    delay_left: int | None = None
    crashes: int = 0


class Faults:
    """The faults armed on one company file. Thread-safe (the scheduler and a test may arm
    and consume at the same time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()

    # -- arming --------------------------------------------------------------------------

    def lock(self, record: str, *, requests: int = 1) -> None:
        _positive("requests", requests)
        with self._lock:
            self._state.locks[record.casefold()] = requests

    def unlock(self, record: str) -> None:
        with self._lock:
            self._state.locks.pop(record.casefold(), None)

    def revoke(self, *request_types: str) -> None:
        """Refuse these requests with 3260: ``"InvoiceAdd"`` (one request type) or
        ``"Invoice"`` (every request on invoices), with or without the ``Rq`` suffix."""
        with self._lock:
            self._state.revoked.update(t.removesuffix("Rq") for t in request_types)

    def grant(self, *request_types: str) -> None:
        with self._lock:
            self._state.revoked.difference_update(t.removesuffix("Rq") for t in request_types)

    def make_unavailable(
        self,
        *,
        sessions: int | None = 1,
        hresult: str = HRESULT_UNAVAILABLE,
        message: str = _UNAVAILABLE_MESSAGE,
    ) -> None:
        if sessions is not None:
            _positive("sessions", sessions)
        with self._lock:
            self._state.unavailable = Unavailable(sessions, hresult, message)
            self._state.unavailable_left = sessions

    def slow(self, seconds: float, *, batches: int | None = None) -> None:
        if seconds < 0:
            raise FaultSpecError(f"delay.seconds: expected a number >= 0, got {seconds!r}")
        if batches is not None:
            _positive("batches", batches)
        with self._lock:
            self._state.delay = Delay(seconds, batches)
            self._state.delay_left = batches

    def crash_after_apply(self, *, batches: int = 1) -> None:
        _positive("batches", batches)
        with self._lock:
            self._state.crashes = batches

    def clear(self) -> None:
        with self._lock:
            self._state = _State()

    def install(self, spec: FaultSpec) -> None:
        """Arm everything in ``spec`` (the closing date is the company file's business)."""
        for lock in spec.locks:
            self.lock(lock.record, requests=lock.requests)
        self.revoke(*spec.revoke)
        if spec.unavailable is not None:
            u = spec.unavailable
            self.make_unavailable(sessions=u.sessions, hresult=u.hresult, message=u.message)
        if spec.delay is not None:
            self.slow(spec.delay.seconds, batches=spec.delay.batches)
        if spec.crash is not None:
            self.crash_after_apply(batches=spec.crash.batches)

    # -- consuming (the company file and the Web Connector) -----------------------------

    def take_lock(self, *keys: str | None) -> bool:
        """Whether one of ``keys`` (a record's id, name, number) is locked; a refusal uses
        up one of the lock's requests."""
        with self._lock:
            for key in keys:
                if not key:
                    continue
                left = self._state.locks.get(key.casefold())
                if left:
                    if left <= 1:
                        del self._state.locks[key.casefold()]
                    else:
                        self._state.locks[key.casefold()] = left - 1
                    return True
            return False

    def is_revoked(self, request_type: str, kind: str) -> bool:
        with self._lock:
            return bool({request_type, kind} & self._state.revoked)

    def take_unavailable(self) -> Unavailable | None:
        with self._lock:
            current = self._state.unavailable
            if current is None:
                return None
            if self._state.unavailable_left is not None:
                self._state.unavailable_left -= 1
                if self._state.unavailable_left <= 0:
                    self._state.unavailable = None
            return current

    def take_delay(self) -> float:
        with self._lock:
            current = self._state.delay
            if current is None:
                return 0.0
            if self._state.delay_left is not None:
                self._state.delay_left -= 1
                if self._state.delay_left <= 0:
                    self._state.delay = None
            return current.seconds

    def take_crash(self) -> bool:
        with self._lock:
            if self._state.crashes <= 0:
                return False
            self._state.crashes -= 1
            return True


# -- the spec ----------------------------------------------------------------------------

_KEYS = ("closing_date", "locks", "revoke", "unavailable", "delay", "crash")


def parse_fault_spec(text: str) -> FaultSpec:
    """Read a JSON fault spec; :class:`FaultSpecError` names the first bad field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaultSpecError(f"faults: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise FaultSpecError("faults: expected an object with " + ", ".join(_KEYS))
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise FaultSpecError(f"faults.{unknown[0]}: unknown field (known: {', '.join(_KEYS)})")
    return FaultSpec(
        closing_date=_date(data.get("closing_date"), "closing_date"),
        locks=tuple(_lock(item, i) for i, item in enumerate(_list(data, "locks"))),
        revoke=tuple(_text(item, f"revoke[{i}]") for i, item in enumerate(_list(data, "revoke"))),
        unavailable=_unavailable(data.get("unavailable")),
        delay=_delay(data.get("delay")),
        crash=_crash(data.get("crash")),
    )


def _positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultSpecError(f"{name}: expected a positive integer, got {value!r}")


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise FaultSpecError(f"faults.{key}: expected a list, got {value!r}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FaultSpecError(f"faults.{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _int(value: object, where: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultSpecError(f"faults.{where}: expected a positive integer, got {value!r}")
    return value


def _fields(value: object, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FaultSpecError(f"faults.{where}: expected an object, got {value!r}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise FaultSpecError(
            f"faults.{where}.{unknown[0]}: unknown field (known: {', '.join(allowed)})"
        )
    return value


def _date(value: object, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise FaultSpecError(f"faults.{where}: expected a date like 2024-12-31, got {value!r}")


def _lock(value: object, index: int) -> LockSpec:
    where = f"locks[{index}]"
    fields = _fields(value, where, ("record", "requests"))
    if "record" not in fields:
        raise FaultSpecError(f"faults.{where}.record: missing (a ListID, TxnID or name)")
    requests = _int(fields.get("requests", 1), f"{where}.requests")
    assert requests is not None
    return LockSpec(_text(fields["record"], f"{where}.record"), requests)


def _unavailable(value: object) -> Unavailable | None:
    if value is None or value is False:
        return None
    if value is True:
        return Unavailable()
    fields = _fields(value, "unavailable", ("sessions", "hresult", "message"))
    return Unavailable(
        sessions=_int(fields.get("sessions", 1), "unavailable.sessions", optional=True),
        hresult=_text(fields.get("hresult", HRESULT_UNAVAILABLE), "unavailable.hresult"),
        message=_text(fields.get("message", _UNAVAILABLE_MESSAGE), "unavailable.message"),
    )


def _delay(value: object) -> Delay | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = {"seconds": value}
    fields = _fields(value, "delay", ("seconds", "batches"))
    seconds = fields.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise FaultSpecError(f"faults.delay.seconds: expected a number >= 0, got {seconds!r}")
    return Delay(float(seconds), _int(fields.get("batches"), "delay.batches", optional=True))


def _crash(value: object) -> Crash | None:
    if value is None or value is False:
        return None
    if value is True:
        return Crash()
    fields = _fields(value, "crash", ("batches",))
    batches = _int(fields.get("batches", 1), "crash.batches")
    assert batches is not None
    return Crash(batches)
