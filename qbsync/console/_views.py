"""Pure view logic: what each page shows, computed from plain records, no I/O, so it is
tested without a server or a browser."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.qbxml import explain

__all__ = [
    "STATES",
    "ConnectionRow",
    "Explained",
    "SessionView",
    "connection_state",
    "explained",
    "filter_connections",
    "filter_log",
    "format_age",
    "locked_out",
    "quickbooks_words",
    "session_views",
    "setup_status",
    "web_connector_words",
]

# Each state, with the words support and a bookkeeper read.
STATES: dict[str, str] = {
    "syncing": "The Web Connector is in a session with this company file right now.",
    "idle": "The Web Connector calls on schedule; nothing is wrong.",
    "stalled": "The Web Connector has not called for longer than its schedule allows: the PC"
    " may be off, QuickBooks closed, or the Web Connector's auto-run turned off.",
    "never": "The Web Connector has never connected: send the bookkeeper a setup link.",
    "disabled": "Syncing is turned off for this file; commands keep queueing.",
    "locked-out": "Too many wrong passwords: logins are refused for a few minutes. Reset the"
    " password on the setup page and enter the new one in the Web Connector.",
}


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def locked_out(
    failures: int,
    last_failure: datetime | None,
    now: datetime,
    *,
    free: int = 5,
    max_lockout: timedelta = timedelta(minutes=5),
) -> bool:
    """The gateway's throttle, also the console's sign-in's: after ``free`` wrong passwords
    in a row, each next try waits 2**excess seconds after the last failure, at most
    ``max_lockout``; a typo costs nothing, guessing gets slow."""
    failed_at = _aware(last_failure)
    excess = failures - free
    if excess < 0 or failed_at is None:
        return False
    return now - failed_at < min(timedelta(seconds=2**excess), max_lockout)


def connection_state(
    *,
    enabled: bool,
    last_seen_at: datetime | None,
    run_every_minutes: int,
    in_session: bool,
    failed_logins: int,
    last_failed_login_at: datetime | None,
    now: datetime,
    stalled_factor: float,
    free_login_failures: int = 5,
    max_lockout: timedelta = timedelta(minutes=5),
) -> str:
    """One of :data:`STATES`. Locked out follows the gateway's throttle: after
    ``free_login_failures`` wrong passwords, 2**excess seconds, at most ``max_lockout``."""
    if not enabled:
        return "disabled"
    if locked_out(
        failed_logins,
        last_failed_login_at,
        now,
        free=free_login_failures,
        max_lockout=max_lockout,
    ):
        return "locked-out"
    if in_session:
        return "syncing"
    seen = _aware(last_seen_at)
    if seen is None:
        return "never"
    if now - seen > timedelta(minutes=run_every_minutes * stalled_factor):
        return "stalled"
    return "idle"


def format_age(seconds: float | None) -> str:
    """``95`` -> ``"1 min"``; ``None`` -> ``"—"``."""
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


@dataclass(frozen=True)
class ConnectionRow:
    """One company file on the connections page."""

    profile_id: str
    name: str
    tenants: tuple[str, ...]
    state: str
    last_seen_at: datetime | None
    backlog: int | None  # None: the broker did not answer
    oldest_age_s: float | None
    web_connector: str
    quickbooks: str

    @property
    def state_words(self) -> str:
        return STATES[self.state]


def filter_connections(
    rows: Iterable[ConnectionRow], *, search: str = "", state: str = ""
) -> list[ConnectionRow]:
    """Rows whose name, id or a tenant contains ``search`` (any case), in ``state``;
    most urgent first (locked out, stalled, never ... idle), then by name."""
    wanted = search.strip().casefold()
    order = ["locked-out", "stalled", "never", "disabled", "syncing", "idle"]
    chosen = [
        row
        for row in rows
        if (not state or row.state == state)
        and (
            not wanted
            or wanted in row.name.casefold()
            or wanted in row.profile_id.casefold()
            or any(wanted in t.casefold() for t in row.tenants)
        )
    ]
    return sorted(chosen, key=lambda r: (order.index(r.state), r.name.casefold()))


@dataclass(frozen=True)
class Explained:
    """A QuickBooks status code in plain words, from the error catalog."""

    code: str
    title: str
    explanation: str
    remedy: str
    category: str


def explained(code: int | str, message: str = "") -> Explained | None:
    """The catalog's words for a QuickBooks code; ``None`` for 0 (OK) and for qbsync's own
    codes (``undecodable``, ``expired`` ...), which carry their reason themselves."""
    text = str(code)
    if text in ("0", "") or (not text.lstrip("-").isdigit() and not text.startswith("0x")):
        return None
    found = explain(code, message)
    return Explained(found.code, found.title, found.explanation, found.remedy, str(found.category))


def filter_log(
    rows: Sequence[Mapping[str, Any]],
    *,
    entity: str = "",
    status: str = "",
    record: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Mapping[str, Any]]:
    """Sync log rows (as exported) that match every given filter; ``at`` is ISO text."""
    chosen = []
    for row in rows:
        at = datetime.fromisoformat(str(row["at"]))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if entity and row["entity"] != entity:
            continue
        if status and row["status"] != status:
            continue
        if record and row["entity_id"] != record:
            continue
        if since is not None and at < since:
            continue
        if until is not None and at >= until:
            continue
        chosen.append(row)
    return chosen


def setup_status(
    *, last_seen_at: datetime | None, since: datetime, failed_logins: int
) -> dict[str, str]:
    """The setup page's live status: ``connected`` (green) once the Web Connector logged in
    successfully after the setup began, ``refused`` when its password was wrong, else
    ``waiting``."""
    seen = _aware(last_seen_at)
    if seen is not None and seen >= since:
        return {
            "state": "connected",
            "text": "Connected: the Web Connector signed in and syncing has started.",
        }
    if failed_logins:
        return {
            "state": "refused",
            "text": "The Web Connector tried, but the password was not accepted: reset it"
            " below and type the new one into the Web Connector.",
        }
    return {
        "state": "waiting",
        "text": "Waiting for the Web Connector's first session (click Update Selected in it).",
    }


# -- versions and sessions (the connections and file pages) -------------------------------


def web_connector_words(version: str | None) -> str:
    return version or "not reported"


def quickbooks_words(host_info: Mapping[str, Any] | None, latest: Any | None) -> str:
    """QuickBooks as the Web Connector described it: the product (from ``strHCPResponse``),
    the country and the newest qbXML version it speaks (``sendRequestXML``'s parameters of
    the newest session; else the versions the host listed)."""
    host = host_info or {}
    parts = [str(host.get("product") or "")]
    country = (latest.qbxml_country if latest else None) or host.get("country") or ""
    if country:
        parts.append(f"({country})")
    if latest is not None and latest.qbxml_major:
        parts.append(f"qbXML {latest.qbxml_major}.{latest.qbxml_minor or 0}")
    elif host.get("supported_versions"):
        parts.append("qbXML " + ",".join(host["supported_versions"]))
    return " ".join(p for p in parts if p) or "not reported"


@dataclass(frozen=True)
class SessionView:
    """One session on a file's page, with the errors of its time in plain words."""

    started_at: datetime
    ended_at: datetime | None
    outcome: str  # words
    ok: bool
    requests: int
    settled: int
    failed: int
    web_connector: str
    quickbooks: str
    errors: tuple[tuple[Any, Explained | None], ...]  # (sync log entry, the catalog's words)
    last_error: str


def _outcome(past: Any, live: bool) -> tuple[str, bool]:
    if past.outcome is None:
        if live:
            return "running now", True
        return (
            "ended without closing: the Web Connector stopped calling (QuickBooks or the PC"
            " closed, or the network dropped) and the session expired; the next session"
            " checks what it had in flight",
            False,
        )
    counts = f"{past.settled} synced"
    if past.failed:
        counts += f", {past.failed} refused by QuickBooks (below)"
    if past.last_error:
        return f"closed after an error; {counts}", False
    return f"closed; {counts}", not past.failed


def session_views(
    sessions: Sequence[Any], failures: Sequence[Any], *, live: bool, now: datetime
) -> list[SessionView]:
    """Each session (newest first; ``live``: the newest is running) with the failed sync
    log rows written while it ran, explained by the qbXML catalog."""
    views = []
    for number, past in enumerate(sessions):
        start = _aware(past.started_at) or now
        end = _aware(past.ended_at) or now
        words, ok = _outcome(past, live and number == 0)
        errors = tuple(
            (entry, explained(entry.code, entry.message))
            for entry in failures
            if start <= (_aware(entry.at) or now) <= end
        )
        views.append(
            SessionView(
                started_at=start,
                ended_at=_aware(past.ended_at),
                outcome=words,
                ok=ok,
                requests=past.settled + past.failed,
                settled=past.settled,
                failed=past.failed,
                web_connector=web_connector_words(past.web_connector),
                quickbooks=quickbooks_words(None, past),
                errors=errors,
                last_error=past.last_error or "",
            )
        )
    return views
