"""``qbsync sandbox``: a simulated QuickBooks company file and Web Connector on this machine.

``run`` points a Web Connector at any gateway URL and runs its sessions against a company
file (SQLite), with faults armed from a JSON spec if asked; ``show`` prints what the company
file holds. Registered in :mod:`qbsync.cli` as ``app.add_typer(sandbox_app, name="sandbox")``.

Progress and problems go to stderr as plain text (never through Rich markup: record names are
user data); results meant for scripts (``--json``) go to stdout.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connectors.sandbox import (
    KINDS,
    CompanyFile,
    HttpTransport,
    SandboxError,
    SandboxWebConnector,
    ScheduledWebConnector,
    SessionReport,
    find_reference,
)
from core.errors import ConfigurationError
from core.settings import Settings
from qbsync._cli_shell import command_group
from qbsync._local_run import use_local_gateway

__all__ = ["LISTS", "sandbox_app"]

sandbox_app = command_group("A simulated QuickBooks and Web Connector.\n\nSee docs/sandbox.md.")
# The company file both commands use when --file is not given, in the data dir.
DEFAULT_COMPANY = "sandbox-company.db"

# What ``show --list`` accepts, and the kinds each name covers.
LISTS: dict[str, tuple[str, ...]] = {
    "customers": ("Customer",),
    "vendors": ("Vendor",),
    "employees": ("Employee",),
    "other-names": ("OtherName",),
    "sales-reps": ("SalesRep",),
    "items": tuple(k for k in KINDS if k.startswith("Item")),
    "accounts": ("Account",),
    "classes": ("Class",),
    "sales-tax-codes": ("SalesTaxCode",),
    "terms": ("StandardTerms", "DateDrivenTerms"),
    "payment-methods": ("PaymentMethod",),
    "ship-methods": ("ShipMethod",),
    "customer-types": ("CustomerType",),
    "vendor-types": ("VendorType",),
    "job-types": ("JobType",),
    "customer-messages": ("CustomerMsg",),
    "invoices": ("Invoice",),
    "credit-memos": ("CreditMemo",),
    "estimates": ("Estimate",),
    "sales-receipts": ("SalesReceipt",),
    "payments": ("ReceivePayment",),
    "bills": ("Bill",),
    "vendor-credits": ("VendorCredit",),
    "purchase-orders": ("PurchaseOrder",),
    "time-tracking": ("TimeTracking",),
}

_LIST_COLUMNS = ("FullName", "ListID", "IsActive", "Balance", "EditSequence", "TimeModified")
_TXN_COLUMNS = (
    "RefNumber",
    "TxnDate",
    "Entity",
    "Amount",
    "Open",
    "IsPaid",
    "TxnID",
    "EditSequence",
)


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _fail(text: str) -> typer.Exit:
    _say(f"error: {text}")
    return typer.Exit(2)


def _faults_text(spec: str) -> str:
    """``--faults`` takes a JSON file or the JSON itself."""
    if spec.lstrip().startswith("{"):
        return spec
    path = Path(spec)
    if not path.is_file():
        raise _fail(f"--faults: no such file {spec} (give a JSON file or the JSON itself)")
    return path.read_text(encoding="utf-8")


def _summary(report: SessionReport) -> str:
    parts = [f"authenticate={report.authenticate or 'ok'}"]
    if report.messages:
        parts.append(f"{report.requests} requests in {report.messages} messages")
        parts.append(f"progress {report.last_progress}")
    for flag in ("crashed", "runaway"):
        if getattr(report, flag):
            parts.append(flag)
    if report.connection_errors:
        parts.append("connectionError " + ",".join(report.connection_errors))
    if report.closing_message:
        parts.append(f"closed: {report.closing_message}")
    text = "session: " + "; ".join(parts)
    return text + "".join(f"\n  {line}" for line in (*report.warnings, *report.errors))


def _failed(report: SessionReport) -> bool:
    """Worth a non-zero exit: refused credentials, a refused Web Connector, a runaway."""
    refused = report.calls == ["serverVersion", "clientVersion"] and bool(report.errors)
    return report.authenticate == "nvu" or report.runaway or refused


@sandbox_app.command("run")
def run(
    username: Annotated[
        str, typer.Option(help="The Web Connector user name (from `qbsync profile create`).")
    ],
    password: Annotated[
        str, typer.Option(envvar="QBSYNC_SANDBOX_PASSWORD", help="The Web Connector password.")
    ],
    gateway: Annotated[
        str | None,
        typer.Option(
            help="The gateway's SOAP URL, e.g. http://127.0.0.1:8080/qbwc (default: the"
            " gateway of the local `qbsync run`)."
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            help=f"The company file, created if missing (default: <data dir>/{DEFAULT_COMPANY})."
        ),
    ] = None,
    company_name: Annotated[str, typer.Option(help="The name of a new company file.")] = (
        "Sandbox Company"
    ),
    faults: Annotated[
        str | None, typer.Option(help="A fault spec: a JSON file, or the JSON itself.")
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Run sessions until the gateway has no work.")
    ] = False,
    every: Annotated[
        float | None,
        typer.Option(help="Run a session every N seconds until interrupted (QBWC's schedule)."),
    ] = None,
    record_dir: Annotated[
        Path | None, typer.Option(help="Write every qbXML request received to its own file.")
    ] = None,
    schema: Annotated[
        Path | None,
        typer.Option(help="Intuit's qbXML reference folder (default: found automatically)."),
    ] = None,
    validate: Annotated[
        bool, typer.Option(help="Validate every request against Intuit's schema.")
    ] = True,
    max_sessions: Annotated[int, typer.Option(help="At most this many sessions.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session reports as JSON.")] = (
        False
    ),
) -> None:
    """Run a Web Connector against the gateway with a sandbox company file."""
    settings = Settings()
    url = gateway or use_local_gateway(settings, _say)
    file = file or _default_company(settings)
    file.parent.mkdir(parents=True, exist_ok=True)
    reference = (schema or find_reference()) if validate else None
    if validate and reference is None:
        _say("note: Intuit's qbXML schema was not found; requests are not validated (--schema)")
    try:
        company = CompanyFile(file, company_name=company_name, validate_with=reference)
    except SandboxError as exc:
        raise _fail(str(exc)) from None
    reports: list[SessionReport] = []
    try:
        if faults is not None:
            try:
                company.apply_faults(_faults_text(faults))
            except SandboxError as exc:
                raise _fail(str(exc)) from None
        connector = SandboxWebConnector(
            HttpTransport(url),
            username=username,
            password=password,
            company=company,
            record_dir=record_dir,
        )
        try:
            reports = _sessions(connector, until_idle=until_idle, every=every, limit=max_sessions)
        except SandboxError as exc:
            raise _fail(f"the gateway answered badly: {exc}") from None
        except OSError as exc:
            raise ConfigurationError(
                f"nothing answers at {url} ({exc.strerror or type(exc).__name__}): start"
                " `qbsync run` (or `qbsync gateway`), or check --gateway"
            ) from None
        finally:
            connector.close()
    finally:
        company.close()
    if as_json:
        sys.stdout.write(json.dumps([_as_dict(r) for r in reports], indent=2) + "\n")
    if any(_failed(r) for r in reports):
        raise typer.Exit(1)


def _default_company(settings: Settings) -> Path:
    return settings.data_dir / DEFAULT_COMPANY


def _sessions(
    connector: SandboxWebConnector, *, until_idle: bool, every: float | None, limit: int
) -> list[SessionReport]:
    reports: list[SessionReport] = []
    if every is not None and not until_idle:
        return _scheduled(connector, every, limit)
    wait = threading.Event()
    for _ in range(limit):
        report = connector.run_once()
        reports.append(report)
        _say(_summary(report))
        if not until_idle or report.authenticate in ("none", "nvu") or _failed(report):
            break
        if report.authenticate == "busy" or report.crashed:
            wait.wait(every if every is not None else 1.0)  # come back later, as QBWC does
    return reports


def _scheduled(connector: SandboxWebConnector, every: float, limit: int) -> list[SessionReport]:
    reports: list[SessionReport] = []
    done = threading.Event()

    def seen(report: SessionReport) -> None:
        reports.append(report)
        _say(_summary(report))
        if len(reports) >= limit:
            done.set()

    schedule = ScheduledWebConnector(connector, every=every, on_report=seen).start()
    try:
        while not done.wait(0.5) and schedule.running:
            pass
    except KeyboardInterrupt:
        _say("stopping after the session under way")
    finally:
        schedule.stop()
    if schedule.failure:
        raise _fail(schedule.failure)
    return reports


def _as_dict(report: SessionReport) -> dict[str, Any]:
    return dataclasses.asdict(report)


def _whole(company: CompanyFile, row: dict[str, Any]) -> dict[str, Any] | None:
    from connectors.qbxml import element_fields

    ret = company.record(str(row.get("TxnID") or row.get("ListID")))
    return None if ret is None else element_fields(ret)


@sandbox_app.command("show")
def show(
    file: Annotated[
        Path | None,
        typer.Option(help=f"The company file (default: <data dir>/{DEFAULT_COMPANY})."),
    ] = None,
    list_: Annotated[
        str, typer.Option("--list", help=f"What to show: {', '.join(LISTS)}.")
    ] = "customers",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="With --json: each record whole, as QuickBooks has it.")
    ] = False,
) -> None:
    """Show one list (or kind of transaction) of a sandbox company file."""
    kinds = LISTS.get(list_)
    if kinds is None:
        raise _fail(f"--list {list_}: unknown; choose one of {', '.join(LISTS)}")
    file = file or _default_company(Settings())
    if not file.is_file():
        raise _fail(f"--file {file}: no such company file")
    try:
        company = CompanyFile(file)
    except SandboxError as exc:
        raise _fail(str(exc)) from None
    try:
        rows = company.records(*kinds)
        name = company.company_name
        if full:
            rows = [{**row, "record": _whole(company, row)} for row in rows]
    finally:
        company.close()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    is_txn = KINDS[kinds[0]].family == "txn"
    columns = list(_TXN_COLUMNS if is_txn else _LIST_COLUMNS)
    if len(kinds) > 1:
        columns.insert(0, "Kind")
    if not is_txn and not any("Balance" in row for row in rows):
        columns.remove("Balance")
    table = Table(title=f"{name}: {list_} ({len(rows)})")
    for column in columns:
        table.add_column(
            column, justify="right" if column in ("Amount", "Open", "Balance") else "left"
        )
    for row in rows:
        table.add_row(*(Text(_cell(row.get(column))) for column in columns))
    # On a terminal, fit its width; piped or redirected, never cut a column.
    Console(highlight=False, width=None if sys.stdout.isatty() else _PIPED_WIDTH).print(table)


_PIPED_WIDTH = 10_000


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
