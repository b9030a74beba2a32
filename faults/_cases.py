"""Every fault case: what a hostile user or an unlucky operator does, and what must hold.

A case gets the :class:`Rig` (real broker, ``qbsync gateway`` and ``qbsync worker`` processes)
and returns an :class:`Outcome`. Data cases also count, in the sandbox company file (what
QuickBooks holds), records lost and records there twice. ``needs`` names work merged from
another branch (issue 13 items 1 and 6): such a case fails until that work is merged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from lxml import etree

from connectors.qbwc import throttle_key
from connectors.qbxml import build_request
from core.contracts import customer_event
from faults._rig import CompanyRun, Rig, soap_envelope, until
from qbsync._local_run import read_run_file
from qbsync.runtime import free_port

__all__ = ["CASES", "Case", "Outcome"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SENTINEL = "Sentinel-Pa55word-6d1e0b"


@dataclass(frozen=True)
class Outcome:
    held: bool
    detail: str = ""
    lost: int | None = None
    duplicated: int | None = None


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Rig], Outcome]
    data: bool = False
    needs: str = ""  # another branch's work this case checks


# -- hostile requests ------------------------------------------------------------------------


def _fault_text(body: bytes) -> str | None:
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    return None if fault is None else (fault.findtext("faultstring") or "")


def _laughs() -> str:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">' for i in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE l [{entities}]>' + soap_envelope(
        "clientVersion", "<q:strVersion>&lol9;</q:strVersion>"
    )


_XXE = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + (
    soap_envelope("clientVersion", "<q:strVersion>&xxe;</q:strVersion>")
)
_DTD = "<!DOCTYPE x [<!ELEMENT x ANY>]>" + soap_envelope("serverVersion")
_DEEP = soap_envelope(
    "clientVersion", "<q:strVersion>" + "<a>" * 100_000 + "</a>" * 100_000 + "</q:strVersion>"
)
_FAULT_REQUEST = (
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault>'
    "<faultcode>soap:Server</faultcode><faultstring>x</faultstring></soap:Fault>"
    "</soap:Body></soap:Envelope>"
)

_HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "xxe-utf8": (lambda: _XXE.encode(), "text/xml; charset=utf-8"),
    "xxe-utf16": (lambda: _XXE.encode("utf-16"), "text/xml; charset=utf-16"),
    "billion-laughs-utf8": (lambda: _laughs().encode(), "text/xml; charset=utf-8"),
    "billion-laughs-utf16": (lambda: _laughs().encode("utf-16"), "text/xml"),
    "dtd": (lambda: _DTD.encode(), "text/xml; charset=utf-8"),
    "body-50mb": (lambda: b"<" + b"a" * (50 * 1024 * 1024) + b"/>", "text/xml; charset=utf-8"),
    "deep-nesting": (lambda: _DEEP.encode(), "text/xml; charset=utf-8"),
    # Issue 13 item 4: these got a plain-text 500 and a traceback.
    "malformed-utf16-dtd": (
        lambda: ('<?xml version="1.0" encoding="utf-16"?>' + _DTD).encode("utf-16"),
        "text/xml; charset=utf-16",
    ),
    "malformed-latin1-bytes": (
        lambda: soap_envelope("clientVersion", "<q:strVersion>caf\xe9</q:strVersion>").encode(
            "latin-1"
        ),
        "text/xml; charset=utf-8",
    ),
    "malformed-charset-bogus": (
        lambda: soap_envelope("serverVersion").encode(),
        "text/xml; charset=bogus-42",
    ),
    "malformed-empty-body": (lambda: b"", "text/xml; charset=utf-8"),
    "malformed-fault-as-request": (lambda: _FAULT_REQUEST.encode(), "text/xml; charset=utf-8"),
}


def _hostile(name: str) -> Callable[[Rig], Outcome]:
    make, content_type = _HOSTILE[name]

    def run(rig: Rig) -> Outcome:
        status, answer_type, answer = rig.post(make(), content_type)
        text = _fault_text(answer)
        if text is None or not answer_type.startswith("text/xml"):
            return Outcome(False, f"HTTP {status} {answer_type} without a SOAP fault")
        if b"Traceback" in answer or "root:" in text:
            return Outcome(False, "the answer leaks a traceback or a file")
        status2, _, again = rig.post(soap_envelope("serverVersion").encode())
        if status2 != 200 or b"qbsync" not in again:
            return Outcome(False, "the gateway stopped answering afterwards")
        return Outcome(True, f"HTTP {status} SOAP fault: {text[:80]}")

    return run


def log_leak(rig: Rig) -> Outcome:
    """Issue 13 item 2: a malformed authenticate never reaches a log line whole."""
    whole = soap_envelope(
        "authenticate",
        f"<q:strUserName>x</q:strUserName><q:strPassword>{SENTINEL}</q:strPassword>",
    )
    truncated = whole[: whole.index("</q:strPassword>") + 5]
    big = whole.replace(SENTINEL, SENTINEL + "y" * 700_000)
    bad_type = soap_envelope(
        "sendRequestXML", f"<q:ticket>{SENTINEL}</q:ticket><q:qbXMLMajorVers>x</q:qbXMLMajorVers>"
    )
    for body in (truncated, big[: big.index("</q:strPassword>") + 5], bad_type):
        rig.post(body.encode())
    rig.post(soap_envelope("serverVersion").encode())  # flushes nothing; just a last call
    log = (rig.log_dir / "gateway.log").read_text(errors="replace").splitlines()
    leaked = sum(1 for line in log if SENTINEL in line)
    longest = max((len(line) for line in log), default=0)
    held = leaked == 0 and longest <= 2048
    return Outcome(held, f"{leaked} lines with the password, longest line {longest} chars")


def wrong_password(rig: Rig) -> Outcome:
    run = rig.company_file("wrongpw")
    rig.enqueue(run, rig.customer_adds(["Never"]))
    wc = run.connector(password="not-" + run.profile.password)
    report = wc.run_once()
    wc.close()
    held = report.authenticate == "nvu" and report.requests == 0 and not run.customers()
    return Outcome(held, f"authenticate={report.authenticate!r} requests={report.requests}")


def ticket_misuse(rig: Rig) -> Outcome:
    run = rig.company_file("ticket")
    rig.enqueue(run, rig.customer_adds(["Ticketed"]))
    wc = run.connector()
    problems = []
    forged = wc.send_request("forged-ticket")
    if forged:
        problems.append("a forged ticket got requests")
    answer = wc.call(
        "receiveResponseXML", ticket="forged-ticket", response="<x/>", hresult="", message=""
    ).text
    if answer != "-1":
        problems.append(f"a forged ticket's answer was taken ({answer})")
    ticket = wc.authenticate(run.profile.profile.username, run.profile.password)
    wc.call("closeConnection", ticket=ticket)
    reused = wc.send_request(ticket)
    if reused:
        problems.append("a closed ticket got requests")
    wc.close()
    run.drain(1)
    lost, duplicated = run.count(["Ticketed"])
    held = not problems and lost == 0 and duplicated == 0
    return Outcome(held, "; ".join(problems) or "refused", lost, duplicated)


def throttle(rig: Rig) -> Outcome:
    """Issue 13 item 5 over HTTP: 40 parallel wrong passwords, each refused and counted or
    answered busy unchecked, lockout holds, and serverVersion answers during the burst."""
    run = rig.company_file("throttle")
    body = soap_envelope(
        "authenticate",
        f"<q:strUserName>{run.profile.profile.username}</q:strUserName>"
        "<q:strPassword>guess</q:strPassword>",
    ).encode()
    with ThreadPoolExecutor(40) as pool:
        burst = [pool.submit(rig.post, body) for _ in range(40)]
        status, _, version = rig.post(soap_envelope("serverVersion").encode(), timeout=30)
        answers = [f.result()[2] for f in burst]
    # "busy": no scrypt slot was free in time, so the password was not checked and the
    # attempt is not counted (docs/faults.md, login throttling, step 4); every other answer
    # is "nvu" and counted. Either way nobody got in.
    refused = sum(1 for a in answers if b">nvu<" in a)
    busy = sum(1 for a in answers if b">busy<" in a)
    row = rig.store.login_throttle(throttle_key(run.profile.profile.username))
    counted = 0 if row is None else row.failures
    unknown = soap_envelope(
        "authenticate",
        "<q:strUserName>nobody-here</q:strUserName><q:strPassword>guess</q:strPassword>",
    ).encode()
    for _ in range(8):
        rig.post(unknown)
    unknown_row = rig.store.login_throttle(throttle_key("nobody-here"))
    unknown_locked = unknown_row is not None and unknown_row.locked_until is not None
    held = (
        status == 200
        and b"qbsync" in version
        and refused + busy == 40
        and refused > 0
        and counted == refused
        and unknown_locked
    )
    return Outcome(
        held,
        f"refused={refused} busy={busy} of 40, counted={counted},"
        f" unknown name locked={unknown_locked}",
    )


# -- data cases ----------------------------------------------------------------------------


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix} {i:02d}" for i in range(count)]


def tenant_isolation(rig: Rig) -> Outcome:
    first, second = rig.company_file("iso-a"), rig.company_file("iso-b")
    names_a, names_b = _names("IsoA", 3), _names("IsoB", 3)
    rig.publish(rig.customer_events(first, names_a) + rig.customer_events(second, names_b))
    first.drain(3)
    second.drain(3)
    lost_a, dup_a = first.count(names_a)
    lost_b, dup_b = second.count(names_b)
    # Records of the other tenant count as extra (duplicated) in each file.
    lost, duplicated = lost_a + lost_b, dup_a + dup_b
    return Outcome(
        lost == 0 and duplicated == 0, "each file holds only its tenant", lost, duplicated
    )


def malformed_avro(rig: Rig) -> Outcome:
    run = rig.company_file("avro")
    names = _names("Avro", 3)
    events = rig.customer_events(run, names)
    rig.publish([events[0], (run.tenant, b"{not avro at all}"), *events[1:]])
    run.drain(3)
    lost, duplicated = run.count(names)
    letters = rig.dead_letters(run.tenant)
    held = lost == 0 and duplicated == 0 and len(letters) == 1
    return Outcome(held, f"dead letters: {[d['code'] for d in letters]}", lost, duplicated)


def unknown_event_type(rig: Rig) -> Outcome:
    run = rig.company_file("unknown")
    names = _names("Unknown", 3)
    events = rig.customer_events(run, names)
    # Single-object encoding with a fingerprint no schema has.
    stranger = b"\xc3\x01" + bytes(range(8)) + b"\x02x"
    rig.publish([events[0], (run.tenant, stranger), *events[1:]])
    run.drain(3)
    lost, duplicated = run.count(names)
    letters = rig.dead_letters(run.tenant)
    held = lost == 0 and duplicated == 0 and len(letters) == 1
    return Outcome(held, f"dead letters: {[d['code'] for d in letters]}", lost, duplicated)


def _invoice(ref: str, customer: str) -> tuple[str, str, str, str]:
    xml = build_request(
        "invoice",
        "Add",
        {
            "CustomerRef": {"FullName": customer},
            "RefNumber": ref,
            "InvoiceLineAdd": [{"Desc": "Fault suite", "Amount": Decimal("10.00")}],
        },
    )
    return ("invoice", ref, "ADD", xml)


def _add_customer(run: CompanyRun, name: str) -> None:
    """A customer already in the company file, added by hand in QuickBooks."""
    run.company.process(
        '<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError">'
        f'<CustomerAddRq requestID="0"><CustomerAdd><Name>{name}</Name></CustomerAdd>'
        "</CustomerAddRq></QBXMLMsgsRq></QBXML>"
    )


def _settled_once(run: CompanyRun, names: list[str], refs: list[str]) -> tuple[int, int]:
    """``(lost, duplicated)`` over customers ``names`` and invoices ``refs``."""
    lost, duplicated = run.count(names)
    invoices = [str(r["RefNumber"]) for r in run.company.records("Invoice")]
    lost += sum(1 for ref in refs if ref not in invoices)
    duplicated += len(invoices) - len(set(invoices))
    return lost, duplicated


def kill_gateway_mid_session(rig: Rig) -> Outcome:
    run = rig.company_file("killgw")
    names, refs = _names("KillGw", 3), ["KG-1", "KG-2"]
    _add_customer(run, "Payer")
    rig.enqueue(run, rig.customer_adds(names) + [_invoice(r, "Payer") for r in refs])
    wc = run.connector()
    ticket = wc.authenticate(run.profile.profile.username, run.profile.password)
    request = wc.send_request(ticket)
    run.company.process(request)  # QuickBooks applies it; the answer never arrives
    wc.close()
    rig.kill(rig.gateway)
    rig.start_gateway()
    run.drain(4)
    lost, duplicated = _settled_once(run, [*names, "Payer"], refs)
    return Outcome(
        lost == 0 and duplicated == 0, "kill -9 after the batch was applied", lost, duplicated
    )


def kill_worker(rig: Rig) -> Outcome:
    run = rig.company_file("killwk")
    names = _names("KillWk", 30)
    rig.publish(rig.customer_events(run, names))
    time.sleep(0.5)  # let it be mid-way: the kill is the fault, not a synchronisation
    rig.kill(rig.worker)
    rig.start_worker()
    run.drain(30, timeout=150)
    lost, duplicated = run.count(names)
    return Outcome(lost == 0 and duplicated == 0, "kill -9 while translating", lost, duplicated)


def garbled_answer(rig: Rig) -> Outcome:
    """Issue 13 item 3: QuickBooks applied the batch, the answer arrives truncated."""
    run = rig.company_file("garbled")
    names, refs = _names("Garbled", 3), ["GA-1"]
    _add_customer(run, "GPayer")
    rig.enqueue(run, rig.customer_adds(names) + [_invoice(r, "GPayer") for r in refs])
    applied = run.company.process
    garbled: list[str] = []

    def garble(request: str) -> tuple[str, str, str]:
        response, hresult, message = applied(request)
        if not garbled:
            garbled.append(request)
            return response[: len(response) // 2], hresult, message
        return response, hresult, message

    run.company.process = garble  # type: ignore[method-assign]
    first = run.connector().run_once()
    run.drain(4)
    lost, duplicated = _settled_once(run, [*names, "GPayer"], refs)
    said = (first.errors or [""])[-1]
    held = lost == 0 and duplicated == 0 and first.last_progress < 0 and "could not" in said
    return Outcome(held, f"getLastError: {said[:80]!r}", lost, duplicated)


def session_takeover(rig: Rig) -> Outcome:
    """Issue 13 item 8: the same Web Connector gets its file back at once."""
    run = rig.company_file("takeover")
    names = _names("Takeover", 3)
    rig.enqueue(run, rig.customer_adds(names))
    crashed = run.connector("QBWC office")
    ticket = crashed.authenticate(run.profile.profile.username, run.profile.password)
    request = crashed.send_request(ticket)
    run.company.process(request)
    crashed.close()
    other = run.connector("QBWC elsewhere").run_once().authenticate
    back = run.connector("QBWC office").run_once().authenticate
    run.drain(3, agent="QBWC office")
    lost, duplicated = run.count(names)
    held = other == "busy" and back != "busy" and lost == 0 and duplicated == 0
    return Outcome(held, f"other client: {other!r}, same client: {back!r}", lost, duplicated)


def broker_restart(rig: Rig) -> Outcome:
    run = rig.company_file("broker")
    before, after = _names("BrokerA", 3), _names("BrokerB", 3)
    rig.publish(rig.customer_events(run, before))
    run.drain(3)
    restart = getattr(rig, "restart_broker", None)
    if restart is None:
        return Outcome(False, "the rig cannot restart its broker")
    restart()
    rig.publish(rig.customer_events(run, after))
    run.drain(6, timeout=150)
    lost, duplicated = run.count(before + after)
    return Outcome(lost == 0 and duplicated == 0, "broker stopped and started", lost, duplicated)


# -- the other branch's items (issue 13 items 1 and 6) -----------------------------------------


def oversized_event(rig: Rig) -> Outcome:
    """Item 1: a ~1.1 MB event, then 3 good ones on the same partition: the good ones land,
    the big one is a dead letter, nothing is skipped."""
    run = rig.company_file("oversized")
    names = _names("AfterBig", 3)
    # Too long for QuickBooks, so the worker rejects it, and its dead letter carries the
    # whole original: more than the broker's 1 MB message limit.
    huge = rig.codec.encode(
        "com.qbsync.events.CustomerEvent",
        customer_event(run.tenant, "c-big", {"company_name": "B" * 1_100_000}),
    )
    _accept_big_events(rig)
    rig.publish([(run.tenant, huge), *rig.customer_events(run, names)], max_bytes=3_000_000)
    run.drain(3, timeout=60)
    lost, duplicated = run.count(names)
    letters = rig.dead_letters(run.tenant)
    held = lost == 0 and duplicated == 0 and len(letters) == 1
    return Outcome(held, f"dead letters: {len(letters)}", lost, duplicated)


def _accept_big_events(rig: Rig) -> None:
    """The events topic takes 2 MB messages (an operator raised the limit for attachments);
    the rest of the pipeline keeps the broker's 1 MB."""
    from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

    admin = AdminClient(dict(rig.settings.kafka.client_config()))
    resource = ConfigResource("topic", rig.settings.topics.events)
    resource.set_config("max.message.bytes", str(2 * 1024 * 1024))
    for future in admin.alter_configs([resource]).values():
        future.result(30)


def run_child_killed(rig: Rig) -> Outcome:
    """Item 6: kill -9 of ``qbsync run``'s gateway child: it is restarted."""
    port = free_port()
    data_dir = rig.work / "run"
    env = {
        **os.environ,
        "QBSYNC_DATA_DIR": str(data_dir),
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": rig.settings.kafka.bootstrap_servers,
        "QBSYNC_TOPIC_PREFIX": f"{rig.settings.topics.prefix}-run",
        "QBSYNC_WORKER_WEB_PORT": str(free_port()),
        "QBSYNC_WORKER_APP_ID": f"{rig.settings.worker.app_id}-run",
        # Not the console's fixed default (8090): another process on this machine may hold it,
        # and a console child that cannot bind ends `qbsync run` at start (seen after a run of
        # the whole test suite, whose last `qbsync run` console was still closing).
        "QBSYNC_CONSOLE_PORT": str(free_port()),
    }
    output = (rig.work / "run.out").open("wb")
    parent = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "qbsync", "run", "--port", str(port)],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        url_ok = _answers(port)
        # Started means `run` has seen every child healthy and written its run file; a
        # gateway killed before that is a child failing its start-up, which ends `run` by
        # design (the case once killed it between its first 200 and run's own health check).

        def started() -> bool:
            return parent.poll() is not None or (read_run_file(data_dir) is not None and url_ok())

        if not until(started, 90) or parent.poll() is not None:
            return Outcome(False, f"qbsync run did not start: {_tail(rig.work / 'run.out')}")
        children = _children(parent.pid)
        gateway = next((pid for pid, cmd in children if " gateway" in cmd), None)
        if gateway is None:
            return Outcome(False, f"no gateway child among {len(children)}")
        os.kill(gateway, signal.SIGKILL)
        came_back = (
            until(lambda: parent.poll() is not None or _down_then(url_ok, gateway), 60)
            and parent.poll() is None
        )
        alive = parent.poll() is None
        detail = f"gateway restarted={came_back} run alive={alive} exit={parent.returncode}"
        if not (came_back and alive):
            detail += f": {_tail(rig.work / 'run.out')}"
        return Outcome(came_back and alive, detail)
    finally:
        parent.send_signal(signal.SIGTERM)
        try:
            parent.wait(30)
        except subprocess.TimeoutExpired:
            parent.kill()
        output.close()


def _tail(path: Path, lines: int = 3) -> str:
    """The last lines ``qbsync run`` printed (its reason for ending), on one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "no output"
    return " | ".join(text.strip().splitlines()[-lines:]) or "no output"


def _answers(port: int) -> Callable[[], bool]:
    import urllib.request

    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    return check


def _down_then(check: Callable[[], bool], killed: int) -> bool:
    return not Path(f"/proc/{killed}").exists() and check()


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append((int(entry.name), command))
    return found


CASES: tuple[Case, ...] = (
    *(Case(name, _hostile(name)) for name in _HOSTILE),
    Case("log-no-request-body", log_leak),
    Case("wrong-password", wrong_password),
    Case("login-throttle", throttle),
    Case("ticket-misuse", ticket_misuse, data=True),
    Case("tenant-isolation", tenant_isolation, data=True),
    Case("malformed-avro", malformed_avro, data=True),
    Case("unknown-event-type", unknown_event_type, data=True),
    Case("garbled-answer", garbled_answer, data=True),
    Case("session-takeover", session_takeover, data=True),
    Case("kill-9-gateway-mid-session", kill_gateway_mid_session, data=True),
    Case("kill-9-worker", kill_worker, data=True),
    Case("broker-restart", broker_restart, data=True),
    Case("oversized-event", oversized_event, data=True),
    Case("run-child-kill-9", run_child_killed),
)
