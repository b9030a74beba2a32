"""``qbsync parked list|show|release|dead-letter``: the records the worker holds back, what
each waits for, why and since when; ask the worker to plan one again now, or to send it to
the dead-letter topic.

The worker keeps parked records in a Faust table; its changelog topic
(``<QBSYNC_WORKER_APP_ID>-parked-changelog``) holds every park and release, so reading it to
the end gives what is parked now. A release is a request in the store that the worker
holding the record picks up at its next sweep (a few seconds): it plans the record again,
which sends it if what it waited for is there now, and otherwise parks it again as it was.
Exit codes: 0 done, 1 no such parked record, 2 configuration (no broker).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.settings import Settings
from qbsync._cli_shell import command_group, say
from qbsync._local_run import use_local_broker
from streams.parking import Parked, latest_parked

__all__ = ["parked_app"]

parked_app = command_group("Records the worker holds back: list, show, release, dead-letter.")
err = Console(stderr=True)


def _settings() -> Settings:
    """Settings with a broker: the configured one, else the local `qbsync run`'s."""
    return use_local_broker(Settings(), say)


TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant id.")]
EntityOption = Annotated[str, typer.Option("--entity", help="e.g. invoice, payment.")]
IdOption = Annotated[str, typer.Option("--id", help="The record's id in the app.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def changelog_topic(settings: Settings) -> str:
    """Faust names a table's changelog ``<app id>-<table>-changelog``."""
    return f"{settings.worker.app_id}-parked-changelog"


def read_parked(settings: Settings) -> list[Parked]:
    """What is parked now: the changelog read from its start to its end, last write wins,
    a tombstone is a release."""
    from connectors.kafka import read_topic

    config = settings.kafka.client_config()
    messages = read_topic(config, changelog_topic(settings), missing_ok=True)
    return latest_parked([(m.key or b"", m.value) for m in messages])


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def _summary(entry: Parked, now: float) -> dict[str, Any]:
    return {
        "tenant": entry.tenant_id,
        "entity": entry.entity,
        "id": entry.entity_id,
        "kind": entry.kind,
        "waiting_on": list(entry.waiting_on),
        "reason": entry.reason,
        "since": _when(entry.parked_at),
        "waited_s": round(now - entry.parked_at),
        "file": entry.profile_id,
        "attempts": entry.attempts,
        "due_at": _when(entry.due_at),
    }


@parked_app.command("list")
def parked_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="waiting, paused, retry or manual.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Parked records, longest waiting first.

    What each waits for, why, since when.
    """
    now = time.time()
    entries = [
        e
        for e in read_parked(_settings())
        if (tenant is None or e.tenant_id == tenant) and (kind is None or e.kind == kind)
    ]
    rows = [_summary(e, now) for e in sorted(entries, key=lambda e: e.parked_at)]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table(
        "tenant", "record", "kind", "since", "waits for", "reason", title=f"{len(rows)} parked"
    )
    for row in rows:
        table.add_row(
            row["tenant"],
            f"{row['entity']}:{row['id']}",
            row["kind"],
            row["since"][:19],
            ", ".join(row["waiting_on"]),
            row["reason"],
        )
    Console().print(table)


def _one(settings: Settings, tenant: str, entity: str, entity_id: str) -> Parked:
    from qbsync.parked import NotParked, find_parked

    try:
        return find_parked(read_parked(settings), tenant, entity, entity_id)
    except NotParked as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@parked_app.command("show")
def parked_show(
    tenant: TenantOption, entity: EntityOption, entity_id: IdOption, as_json: JsonOption = False
) -> None:
    """One parked record in full.

    What it waits for, why, since when, where it came from.
    """
    entry = _one(_settings(), tenant, entity, entity_id)
    view = {
        **_summary(entry, time.time()),
        "checked_at": _when(entry.checked_at),
        "first_failed_at": _when(entry.first_failed_at),
        "source": f"{entry.source_topic}[{entry.partition}]@{entry.offset}",
        "requested": bool(entry.extra.get("requested")),
    }
    if as_json:
        sys.stdout.write(json.dumps(view) + "\n")
        return
    for key, value in view.items():
        typer.echo(f"{key}: {value}")


def _ask(tenant: str, entity: str, entity_id: str, action: str, as_json: bool) -> None:
    """``release`` or ``dead-letter`` through :mod:`qbsync.parked`, as the console does."""
    import getpass

    from qbsync.parked import ask_worker, consequence
    from qbsync.runtime import open_cli_store

    settings = _settings()
    entry = _one(settings, tenant, entity, entity_id)
    with open_cli_store(settings) as store:
        ask_worker(store, entry, action, by=f"cli:{getpass.getuser()}")
    if as_json:
        answer = {"requested": action, "record": f"{entity}:{entity_id}", "tenant": tenant}
        sys.stdout.write(json.dumps({**answer, "kind": entry.kind}) + "\n")
        return
    typer.echo(f"{action} of {entity} {entity_id!r} ({entry.kind}) requested.")
    typer.echo(consequence(entry, action, settings))
    typer.echo("`qbsync parked list` and `qbsync log export` show the outcome.")


@parked_app.command("release")
def parked_release(
    tenant: TenantOption, entity: EntityOption, entity_id: IdOption, as_json: JsonOption = False
) -> None:
    """Plan a parked record again now.

    After mapping what it waits for, or switching the integration on; it stays parked if
    it still cannot go.
    """
    _ask(tenant, entity, entity_id, "release", as_json)


@parked_app.command("dead-letter")
def parked_dead_letter(
    tenant: TenantOption, entity: EntityOption, entity_id: IdOption, as_json: JsonOption = False
) -> None:
    """Send a parked record to the dead-letter topic.

    Nothing goes to QuickBooks; replaying the dead letter later plans it again.
    """
    _ask(tenant, entity, entity_id, "dead-letter", as_json)
