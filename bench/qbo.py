"""Commands per second through the QBO sender: one realm at Intuit's limit and without, or
many realms at once.

    .venv/bin/python bench/qbo.py [--per-minute 500] [--windows 2] [--window-s 60]
    .venv/bin/python bench/qbo.py --realms 1000 [--per-realm 3] [--per-minute 500 --window-s 60]

Two rounds, each on a fresh realm of the QBO sandbox (over HTTP) with the same broker and
store: ``limited``, the client's limiter at ``--per-minute`` (Intuit's 500 a minute, 10 at a
time) and the sandbox enforcing the same; ``baseline``, both limits lifted, which is what
qbsync itself can push to one realm (the sender drains a realm in order, one request at a
time). ``per_minute · windows + 1`` customer creates are queued on the realm's command topic,
then drained until committed. The limiter lets ``per_minute`` requests start in any window
of ``window_s`` (Intuit's minute; shorter only for a smoke run), so the writes come in bursts:
``max_in_any_window`` must not exceed ``per_minute``, and ``sustained_per_s`` (writes between
the first and the last, over the time between them) sits at ``bound_per_s`` = per_minute /
(window_s + the client's headroom of a second a minute) when the limiter is the bound,
while the baseline is far above it. Throttled answers (429) count how often the client
exceeded the sandbox's (Intuit's) limit: 0 expected. One JSON object on stdout.

The same two rounds again with the batch endpoint (``QBSYNC_QBO_BATCH_CREATES``, the
default; ``batch_baseline``, ``batch_limited``): the creates go 30 to a batch request (a
drain reads ``QBSYNC_QBO_BATCH_SIZE`` commands, 30; Intuit's most per batch), each batch
one of the 500 requests and one of Intuit's 40 batch requests a minute, which the sandbox
enforces as Intuit does. Reported besides: the API requests used, the batch requests, the
most batch requests in any window (at most 40) and ``batch_bound_per_s`` = 40 batches of
``QBSYNC_QBO_BATCH_SIZE`` commands per window (with the headroom); from ``--windows 3``
(1,501 commands: 51 batches) the 40 a minute bind.

``--realms N``: N companies of one sandbox (Intuit's limits on each), each connected through
the OAuth flow, ``--per-realm`` creates queued on each company's topic, then one sender
(``create_qbo_runtime``: ``QBSYNC_QBO_SENDER_THREADS`` companies at a time, each under its
lease) runs ``drain_all`` until every command is committed. Reported: the aggregate
commands/s, what each realm got (its commands over the time from the start to its last
write: min, median, max), the most requests any realm had in any minute, 429s, and whether
every command was written once. What bounds it is stated, not assumed: the limiter binds
only if the aggregate reaches N x 500/61 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.kafka import RecordProducer, ensure_topics
from connectors.qbo import (
    BATCHES_PER_MINUTE,
    QboEntityRequest,
    QboOperation,
    RealmLimits,
    TokenSet,
    create_company,
    create_qbo_runtime,
)
from connectors.qbo_sandbox import QboSandbox
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import running_broker
from qbsync.runtime import prepare_topics, use_broker

UNLIMITED = 1_000_000
PER_MINUTE_INTUIT = 500


def queue_commands(
    settings: Settings, codec: AvroCodec, profile_id: str, tenant_id: str, count: int
) -> None:
    queue_many(settings, codec, [(profile_id, tenant_id)], count)


def queue_many(
    settings: Settings, codec: AvroCodec, companies: list[tuple[str, str]], count: int
) -> None:
    """``count`` customer creates on each (profile, tenant)'s command topic."""
    ensure_topics(
        settings.kafka.client_config(), {settings.topics.commands(p): 1 for p, _ in companies}
    )
    records = [
        record
        for profile_id, tenant_id in companies
        for record in _commands(settings, codec, profile_id, tenant_id, count)
    ]
    producer = RecordProducer(settings.kafka.client_config())
    producer.send_all(records)
    producer.close()


def _commands(
    settings: Settings, codec: AvroCodec, profile_id: str, tenant_id: str, count: int
) -> list[tuple[str, bytes, bytes]]:
    topic = settings.topics.commands(profile_id)
    records = []
    for n in range(count):
        request = QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": f"C {n}"})
        command = {
            "command_id": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "profile_id": profile_id,
            "entity": "customer",
            "entity_id": f"c-{n}",
            "action": "ADD",
            "request_xml": "",
            "created_at": datetime.now(UTC),
            "qbo": request.to_avro(),
        }
        records.append(
            (
                topic,
                command["tenant_id"].encode(),
                codec.encode("com.qbsync.pipeline.Command", command),
            )
        )
    return records


def max_in_window(times: list[float], window_s: float) -> int:
    """The most writes that started within any ``window_s`` (sorted times; a few ms of
    logging skew allowed)."""
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window_s - 0.05:
            first += 1
        best = max(best, last - first + 1)
    return best


def one_round(
    settings: Settings,
    store: Store,
    codec: AvroCodec,
    count: int,
    per_minute: int,
    window_s: float,
    batch: bool = False,
) -> dict[str, Any]:
    realm = uuid.uuid4().hex[:10]
    limited = per_minute < UNLIMITED
    batches = BATCHES_PER_MINUTE if limited else UNLIMITED
    sandbox = QboSandbox(per_minute=per_minute, window_s=window_s, batches_per_minute=batches)
    sandbox.add_company(realm)
    with sandbox.serve() as url:
        qbo = settings.qbo
        qbo.api_base_url = url
        qbo.authorize_url = f"{url}/connect/oauth2"
        qbo.token_url = f"{url}/oauth2/v1/tokens/bearer"
        qbo.revoke_url = f"{url}/oauth2/v1/tokens/revoke"
        qbo.client_id = sandbox.oauth.client_id
        qbo.client_secret = SecretStr(sandbox.oauth.client_secret)
        qbo.redirect_uri = "https://bench.example/callback"
        # The client's headroom scales with the window: a second per minute.
        limits = RealmLimits(
            per_minute=per_minute,
            window_s=window_s,
            margin_s=window_s / 60,
            batches_per_minute=batches,
        )
        qbo.batch_creates = batch
        runtime = create_qbo_runtime(settings, store, limits=limits)
        try:
            profile_id = create_company(store, name=f"bench {realm}", tenants=[f"tenant-{realm}"])
            state = runtime.connections.begin_connect(profile_id)
            callback = sandbox.consent(runtime.oauth.authorize_url(state), realm)
            runtime.connections.complete_callback(callback, runtime.oauth)
            queue_commands(settings, codec, profile_id, f"tenant-{realm}", count)
            sent = 0
            started = time.monotonic()
            while sent < count:
                report = runtime.sender.drain(profile_id, realm)
                sent += report.sent
                if report.stopped:
                    print(f"drain stopped: {report.stopped}", file=sys.stderr)
            elapsed = time.monotonic() - started
        finally:
            runtime.close()
    log = sandbox.requests
    writes = sorted(at for (_r, verb, _p, code, at) in log if verb == "POST" and code == 200)
    span = writes[-1] - writes[0] if len(writes) > 1 else 0.0
    if batch:
        posts = sorted(
            at for (_r, verb, path, code, at) in log if verb == "POST" and path.endswith("/batch")
        )
        per_batch = settings.qbo.batch_size
        return {
            "per_window": per_minute if limited else None,
            "batches_per_window": batches if limited else None,
            "window_s": window_s if limited else None,
            "commands": count,
            "written": len(sandbox.company(realm).all("Customer")),
            "elapsed_s": round(elapsed, 2),
            "commands_per_s": round(count / elapsed, 2),
            "api_requests": len(log),
            "batch_requests": len(posts),
            "commands_per_request": round(count / max(1, len(log)), 1),
            "max_batches_in_any_window": max_in_window(posts, window_s) if limited else None,
            "batch_bound_per_s": round(batches * per_batch / (window_s * 61 / 60), 2)
            if limited
            else None,
            "throttled_429": sum(1 for entry in log if entry[3] == 429),
        }
    return {
        "per_window": per_minute if limited else None,
        "window_s": window_s if limited else None,
        "commands": count,
        "written": len(sandbox.company(realm).all("Customer")),
        "elapsed_s": round(elapsed, 2),
        "commands_per_s": round(count / elapsed, 2),
        "sustained_per_s": round((len(writes) - 1) / span, 2) if span else None,
        "max_in_any_window": max_in_window(writes, window_s) if limited else None,
        "bound_per_s": round(per_minute / (window_s * 61 / 60), 2) if limited else None,
        "throttled_429": sum(1 for entry in log if entry[3] == 429),
    }


def _point_at(settings: Settings, sandbox: QboSandbox, url: str) -> None:
    qbo = settings.qbo
    qbo.api_base_url = url
    qbo.authorize_url = f"{url}/connect/oauth2"
    qbo.token_url = f"{url}/oauth2/v1/tokens/bearer"
    qbo.revoke_url = f"{url}/oauth2/v1/tokens/revoke"
    qbo.client_id = sandbox.oauth.client_id
    qbo.client_secret = SecretStr(sandbox.oauth.client_secret)
    qbo.redirect_uri = "https://bench.example/callback"


def _tokens(sandbox: QboSandbox, realm: str) -> TokenSet:
    issued = sandbox.tokens_for(realm)
    now = datetime.now(UTC)
    return TokenSet(
        access_token=SecretStr(str(issued["access_token"])),
        refresh_token=SecretStr(str(issued["refresh_token"])),
        access_expires_at=now + timedelta(seconds=int(str(issued["expires_in"]))),
        refresh_expires_at=now + timedelta(days=100),
    )


def many_realms(
    settings: Settings,
    store: Store,
    codec: AvroCodec,
    realms: int,
    per_realm: int,
    per_minute: int = PER_MINUTE_INTUIT,
    window_s: float = 60.0,
) -> dict[str, Any]:
    """See the module's docstring (``--realms``)."""
    # The same limits on every realm in the sandbox (Intuit) and in the client.
    sandbox = QboSandbox(per_minute=per_minute, window_s=window_s)
    ids = [f"9{n:09d}" for n in range(realms)]
    for realm in ids:
        sandbox.add_company(realm)
    with sandbox.serve(threads=16) as url:
        _point_at(settings, sandbox, url)
        limits = RealmLimits(per_minute=per_minute, window_s=window_s, margin_s=window_s / 60)
        runtime = create_qbo_runtime(settings, store, limits=limits)
        try:
            setup = time.monotonic()
            companies: list[tuple[str, str]] = []
            for realm in ids:
                tenant = f"tenant-{realm}"
                profile_id = create_company(store, name=f"bench {realm}", tenants=[tenant])
                state = runtime.connections.begin_connect(profile_id)
                # The consent's tokens without its two HTTP round trips (the flow itself is
                # the single-realm rounds' and the tests'): setup, not what is measured.
                runtime.connections.complete_connect(state, realm, _tokens(sandbox, realm))
                companies.append((profile_id, tenant))
            queue_many(settings, codec, companies, per_realm)
            setup_s = time.monotonic() - setup
            total, sent, passes = realms * per_realm, 0, 0
            started = time.monotonic()
            while sent < total:
                reports = runtime.drain_all()
                passes += 1
                done = sum(r.sent for r in reports.values())
                sent += done
                if not done:
                    time.sleep(0.2)  # every realm waits for its limiter: as qbo send idles
                stopped = {r.stopped for r in reports.values() if r.stopped}
                if stopped:
                    print(f"drains stopped: {sorted(stopped)[:3]}", file=sys.stderr)
            elapsed = time.monotonic() - started
        finally:
            runtime.close()
    writes: dict[str, list[float]] = {}
    for realm, verb, _path, code, at in sandbox.requests:
        if verb == "POST" and code == 200:
            writes.setdefault(realm, []).append(at)
    rates = sorted(len(times) / (max(times) - started) for times in writes.values())
    # Between a realm's first and last write: its pace once it was being sent to.
    sustained = sorted(
        (len(t) - 1) / (max(t) - min(t)) for t in writes.values() if len(t) > 1 and max(t) > min(t)
    )
    written = sum(len(sandbox.company(r).all("Customer")) for r in ids)
    bound = per_minute / (window_s * 61 / 60)
    aggregate = total / elapsed
    return {
        "realms": realms,
        "commands_per_realm": per_realm,
        "commands": total,
        "written": written,
        "written_once": written == total,
        "setup_s": round(setup_s, 1),
        "elapsed_s": round(elapsed, 2),
        "drain_all_passes": passes,
        "sender_threads": settings.qbo.sender_threads,
        "commands_per_s": round(aggregate, 1),
        "per_realm_commands_per_s": {
            "min": round(rates[0], 3),
            "median": round(rates[len(rates) // 2], 3),
            "max": round(rates[-1], 3),
        },
        "per_realm_sustained_per_s": {
            "min": round(sustained[0], 3),
            "median": round(sustained[len(sustained) // 2], 3),
            "max": round(sustained[-1], 3),
        }
        if sustained
        else None,
        "per_window": per_minute,
        "window_s": window_s,
        "max_in_any_window_any_realm": max(
            max_in_window(sorted(t), window_s) for t in writes.values()
        ),
        "throttled_429": sum(1 for entry in sandbox.requests if entry[3] == 429),
        "limiter_bound_per_realm_per_s": round(bound, 3),
        "limiter_bound_aggregate_per_s": round(bound * realms, 1),
        "bound_by": "limiter" if aggregate >= 0.9 * bound * realms else "qbsync",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-minute", type=int, default=500, help="Intuit's limit: 500")
    parser.add_argument("--window-s", type=float, default=60.0, help="Intuit's: a minute")
    parser.add_argument("--windows", type=int, default=2, help="full windows to measure")
    parser.add_argument("--realms", type=int, default=0, help="many realms at once instead")
    parser.add_argument("--per-realm", type=int, default=3, help="commands per realm")
    args = parser.parse_args()
    count = args.per_minute * args.windows + 1
    if args.realms:
        with tempfile.TemporaryDirectory() as tmp, running_broker() as broker:
            settings = Settings(data_dir=Path(tmp))
            use_broker(settings, broker)
            settings.topics.prefix = f"bench-{uuid.uuid4().hex[:6]}"
            settings.qbo.token_keys = SecretStr(Fernet.generate_key().decode())
            settings.qbo.read_entities = ""
            upgrade(settings.database_url)
            prepare_topics(settings)
            store = Store(settings.database_url)
            result = many_realms(
                settings,
                store,
                AvroCodec(),
                args.realms,
                args.per_realm,
                args.per_minute,
                args.window_s,
            )
            store.close()
        print(
            json.dumps(
                {
                    "bench": "qbo-realms",
                    "broker": {"kind": broker.kind, "version": broker.version},
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                    **result,
                }
            )
        )
        return
    with tempfile.TemporaryDirectory() as tmp, running_broker() as broker:
        settings = Settings(data_dir=Path(tmp))
        use_broker(settings, broker)
        settings.topics.prefix = f"bench-{uuid.uuid4().hex[:6]}"
        settings.qbo.token_keys = SecretStr(Fernet.generate_key().decode())
        upgrade(settings.database_url)
        prepare_topics(settings)
        store = Store(settings.database_url)
        codec = AvroCodec()
        baseline = one_round(settings, store, codec, count, UNLIMITED, args.window_s)
        limited = one_round(settings, store, codec, count, args.per_minute, args.window_s)
        batch_baseline = one_round(
            settings, store, codec, count, UNLIMITED, args.window_s, batch=True
        )
        batch_limited = one_round(
            settings, store, codec, count, args.per_minute, args.window_s, batch=True
        )
        store.close()
    bound = limited["bound_per_s"] or 0.0
    print(
        json.dumps(
            {
                "bench": "qbo",
                "broker": {"kind": broker.kind, "version": broker.version},
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "baseline": baseline,
                "limited": limited,
                "limiter_is_the_bound": bool(
                    baseline["commands_per_s"] > 2 * bound
                    and limited["max_in_any_window"] <= args.per_minute
                    and (limited["sustained_per_s"] or 0) <= 1.02 * bound
                    and limited["throttled_429"] == 0
                ),
                "batch_baseline": batch_baseline,
                "batch_limited": batch_limited,
                "batch_within_limits": bool(
                    batch_limited["max_batches_in_any_window"] <= BATCHES_PER_MINUTE
                    and batch_limited["throttled_429"] == 0
                    and batch_limited["written"] == count
                ),
                "batch_vs_single_commands_per_s": round(
                    batch_limited["commands_per_s"] / limited["commands_per_s"], 1
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
