"""A lean asyncio Web Connector for benchmarks (imported from the script's folder).

It makes QBWC's calls in QBWC's order (serverVersion, clientVersion, authenticate, then
sendRequestXML/receiveResponseXML until the server says 100, an empty request or a negative
answer, then getLastError where QBWC asks it, closeConnection) over keep-alive HTTP/1.1, one
connection per session, and answers each ``<XAddRq>`` as QuickBooks would (status 0 and an
``XRet`` with a fresh id), without a company file: its own cost per call must stay far below a
server's, and :func:`drive` reports it (``time.process_time`` of its process).

Meant to run in several processes at once (see :func:`drive`); each returns its latencies.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["DriverReport", "drive", "schedule"]

_ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soap:Body><{op} xmlns="http://developer.intuit.com/">{params}</{op}></soap:Body>'
    "</soap:Envelope>"
)
_ADD = re.compile(r'<(\w+)AddRq(?: requestID="([^"]*)")?>.*?<Name>([^<]*)</Name>', re.S)
_CLIENT = "2.3.0.215"
_ids = itertools.count(1)


@dataclass
class DriverReport:
    """One driver process's share: ``calls`` as ``(operation, seconds)``; ``cpu_s`` its own
    CPU time; ``sessions`` ended and the ``requests`` QuickBooks answered."""

    calls: list[tuple[str, float]] = field(default_factory=list)
    cpu_s: float = 0.0
    sessions: int = 0
    requests: int = 0
    authenticate: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0
    errors: int = 0


def _body(op: str, params: dict[str, str]) -> bytes:
    inner = "".join(f"<{k}>{html.escape(v, quote=False)}</{k}>" for k, v in params.items())
    return _ENVELOPE.format(op=op, params=inner).encode()


def _values(raw: bytes, op: str) -> list[str]:
    """The strings inside ``<opResult>`` (one for scalars, several for arrays)."""
    text = raw.decode()
    if "Fault>" in text:
        raise RuntimeError(f"SOAP fault on {op}: {text[:300]}")
    match = re.search(rf"<(?:\w+:)?{op}Result[^>]*?(?:/>|>(.*?)</(?:\w+:)?{op}Result>)", text, re.S)
    if match is None:
        raise RuntimeError(f"no {op}Result in {text[:300]}")
    inner = match.group(1) or ""
    items = re.findall(r"<(?:\w+:)?string[^>]*?(?:/>|>(.*?)</(?:\w+:)?string>)", inner, re.S)
    if items:
        return [html.unescape(item) for item in items]
    return [html.unescape(inner)]


def answer(request: str) -> tuple[str, int]:
    """QuickBooks' answer to a message of adds, and how many requests it held."""
    stamp = "2026-01-01T00:00:00-00:00"
    parts = []
    for kind, request_id, name in _ADD.findall(request):
        list_id = f"80000{next(_ids):06X}-1700000000"
        rid = f' requestID="{request_id}"' if request_id else ""
        parts.append(
            f'<{kind}AddRs{rid} statusCode="0" statusSeverity="Info"'
            f' statusMessage="Status OK"><{kind}Ret><ListID>{list_id}</ListID>'
            f"<TimeCreated>{stamp}</TimeCreated><TimeModified>{stamp}</TimeModified>"
            f"<EditSequence>1700000000</EditSequence><Name>{name}</Name>"
            f"<FullName>{name}</FullName><IsActive>true</IsActive><Sublevel>0</Sublevel>"
            f"</{kind}Ret></{kind}AddRs>"
        )
    xml = (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs onError="stopOnError">'
        + "".join(parts)
        + "</QBXMLMsgsRs></QBXML>"
    )
    return xml, len(parts)


class _Connection:
    def __init__(self, host: str, port: int, path: str, sink: list[tuple[str, float]]) -> None:
        self._host, self._port, self._path, self._sink = host, port, path, sink
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def call(self, op: str, **params: str) -> list[str]:
        body = _body(op, params)
        head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f'Content-Type: text/xml; charset=utf-8\r\nSOAPAction: "http://developer.intuit.com/{op}"'
            f"\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(head + body)
        status = await self._reader.readline()
        length = 0
        close = False
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        raw = await self._reader.readexactly(length)
        self._sink.append((op, time.perf_counter() - started))
        if close:
            await self.close()
        if b" 200 " not in status and b" 500 " not in status:
            raise RuntimeError(f"{op}: HTTP {status!r}")
        return _values(raw, op)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


async def _session(
    url: tuple[str, int, str], username: str, password: str, report: DriverReport
) -> None:
    connection = _Connection(*url, report.calls)
    try:
        await connection.call("serverVersion")
        await connection.call("clientVersion", strVersion=_CLIENT)
        values = await connection.call("authenticate", strUserName=username, strPassword=password)
        ticket, status = ([*values, "", ""])[:2]
        report.authenticate[username] = status
        if status in ("nvu", "none", "busy"):
            return
        for _ in range(1000):
            params = {"ticket": ticket, "strHCPResponse": "", "strCompanyFileName": "bench.qbw"}
            params |= {"qbXMLCountry": "US", "qbXMLMajorVers": "13", "qbXMLMinorVers": "0"}
            (request,) = await connection.call("sendRequestXML", **params)
            if request == "NoOp":
                continue
            if not request:
                await connection.call("getLastError", ticket=ticket)
                break
            response, count = answer(request)
            report.requests += count
            (progress,) = await connection.call(
                "receiveResponseXML", ticket=ticket, response=response, hresult="", message=""
            )
            if int(progress) < 0:
                await connection.call("getLastError", ticket=ticket)
                break
            if int(progress) >= 100:
                break
        await connection.call("closeConnection", ticket=ticket)
        report.sessions += 1
    finally:
        await connection.close()


async def _run(url: str, users: list[tuple[str, str]], start_at: float, limit: int) -> DriverReport:
    parts = urlsplit(url)
    target = (parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/")
    report = DriverReport()
    bound = asyncio.Semaphore(limit or max(1, len(users)))

    async def bounded(username: str, password: str) -> None:
        async with bound:
            await _session(target, username, password, report)

    await asyncio.sleep(max(0.0, start_at - time.time()))
    report.started = time.time()
    cpu = time.process_time()
    await asyncio.gather(*(bounded(u, p) for u, p in users))
    report.cpu_s = time.process_time() - cpu
    report.ended = time.time()
    return report


def drive(url: str, users: list[tuple[str, str]], start_at: float, limit: int = 0) -> DriverReport:
    """One session per ``(username, password)``, all at once (or ``limit`` at a time),
    from wall-clock ``start_at``."""
    return asyncio.run(_run(url, users, start_at, limit))


async def _poll(
    target: tuple[str, int, str],
    username: str,
    password: str,
    report: DriverReport,
    calls: list[tuple[str, float]],
) -> None:
    """One idle scheduled update on its own connection, as QBWC opens one per update."""
    connection = _Connection(*target, calls)
    try:
        await connection.call("serverVersion")
        await connection.call("clientVersion", strVersion=_CLIENT)
        values = await connection.call("authenticate", strUserName=username, strPassword=password)
        report.authenticate[username] = ([*values, "", ""])[1]
        report.sessions += 1
    finally:
        await connection.close()


async def _schedule(
    url: str, users: list[tuple[str, str]], start_at: float, seconds: float, every: float
) -> tuple[DriverReport, list[tuple[float, str, float]]]:
    parts = urlsplit(url)
    target = (parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/")
    report = DriverReport()
    timeline: list[tuple[float, str, float]] = []
    await asyncio.sleep(max(0.0, start_at - time.time()))
    report.started = time.time()
    cpu = time.process_time()
    end = start_at + seconds

    async def user(index: int, username: str, password: str) -> None:
        # Spread evenly over the period, as thousands of independent schedules are.
        due = start_at + every * index / max(1, len(users))
        while due < end:
            await asyncio.sleep(max(0.0, due - time.time()))
            calls: list[tuple[str, float]] = []
            try:
                await _poll(target, username, password, report, calls)
            except (OSError, RuntimeError, asyncio.IncompleteReadError):
                report.errors += 1  # counted and reported; the schedule goes on
            report.calls.extend(calls)
            timeline.extend((time.time() - start_at, op, s) for op, s in calls)
            due += every

    await asyncio.gather(*(user(i, u, p) for i, (u, p) in enumerate(users)))
    report.cpu_s = time.process_time() - cpu
    report.ended = time.time()
    return report, timeline


def schedule(
    url: str, users: list[tuple[str, str]], start_at: float, seconds: float, every: float
) -> tuple[DriverReport, list[tuple[float, str, float]]]:
    """Every user polls once per ``every`` seconds (idle updates), spread over the period,
    for ``seconds`` from wall-clock ``start_at``; the report and ``(at_s, op, seconds)``."""
    return asyncio.run(_schedule(url, users, start_at, seconds, every))
