"""Commands per second through the QBO sender for one realm: at Intuit's limit, and without.

    .venv/bin/python bench/qbo.py [--per-minute 500] [--windows 2] [--window-s 60]

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.kafka import RecordProducer, ensure_topics
from connectors.qbo import (
    QboEntityRequest,
    QboOperation,
    RealmLimits,
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


def queue_commands(
    settings: Settings, codec: AvroCodec, profile_id: str, tenant_id: str, count: int
) -> None:
    topic = settings.topics.commands(profile_id)
    ensure_topics(settings.kafka.client_config(), {topic: 1})
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
    producer = RecordProducer(settings.kafka.client_config())
    producer.send_all(records)
    producer.close()


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
) -> dict[str, Any]:
    realm = uuid.uuid4().hex[:10]
    sandbox = QboSandbox(per_minute=per_minute, window_s=window_s)
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
        limits = RealmLimits(per_minute=per_minute, window_s=window_s, margin_s=window_s / 60)
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
    limited = per_minute < UNLIMITED
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-minute", type=int, default=500, help="Intuit's limit: 500")
    parser.add_argument("--window-s", type=float, default=60.0, help="Intuit's: a minute")
    parser.add_argument("--windows", type=int, default=2, help="full windows to measure")
    args = parser.parse_args()
    count = args.per_minute * args.windows + 1
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
            }
        )
    )


if __name__ == "__main__":
    main()
