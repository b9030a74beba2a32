"""The worker's two-way step: imported QuickBooks records to change events, on a real store.

    .venv/bin/python bench/changes.py [--records N] [--changed F] [--database-url URL]

Times :meth:`streams._pipeline.Pipeline.reconcile_many` over batches of 500 imported
customers of one two-way tenant, every one mapped: a fraction ``changed`` was edited in
QuickBooks (a change event each, remembered in the store afterwards), the rest are our own
writes read back (echoes, dropped). That is an import after a busy sync: most records it
reads are ours. No broker: the step reads the store and encodes Avro, which is its cost; the
agent's sends are Kafka's (see ``bench/transform.py``). One JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.qbwc import create_profile
from connectors.store import Mapping, Store, upgrade
from core.contracts import AvroCodec
from core.messages import IMPORTED
from core.settings import Settings
from streams.app import Pipeline

BATCH = 500


class Message:
    def __init__(self, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset = "qbsync.imports", 0, offset
        self.key, self.value = b"t-1", value


def imported(n: int, sequence: str) -> dict[str, Any]:
    ret = {
        "ListID": f"8000{n:04X}-1700000000",
        "EditSequence": sequence,
        "Name": f"Customer {n}",
        "FullName": f"Customer {n}",
        "IsActive": "true",
        "CompanyName": f"Customer {n} LLC",
        "BillAddress": {"Addr1": f"{n} Main St", "City": "Austin", "State": "TX"},
        "ShipToAddress": [
            {"Name": "Site A", "Addr1": f"{n} Side Rd", "DefaultShipTo": "true"},
            {"Name": "Site B", "Addr1": f"{n} Back Rd"},
        ],
        "Email": f"c{n}@example.com",
    }
    now = datetime.now(UTC)
    return {
        "tenant_id": "t-1",
        "profile_id": "p",
        "entity": "customer",
        "qb_id": ret["ListID"],
        "edit_sequence": sequence,
        "time_modified": now,
        "record_type": "Customer",
        "record_json": json.dumps(ret),
        "imported_at": now,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--changed", type=float, default=0.1)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{scratch}/bench.db"
        upgrade(url)
        store = Store(url)
        create_profile(store, name=f"Bench {os.getpid()}", tenants=["t-1"])
        store.update_tenant_settings("t-1", {"direction": {"customer": "two_way"}})
        mappings = [
            Mapping("t-1", "customer", f"c-{n}", imported(n, "1")["qb_id"], "1", f"Customer {n}")
            for n in range(args.records)
        ]
        for start in range(0, len(mappings), 1000):
            store.save_outcomes(mappings[start : start + 1000], [])
        codec = AvroCodec()
        pipeline = Pipeline(Settings(data_dir=Path(scratch)), store, codec)
        every = max(1, round(1 / args.changed)) if args.changed else 0
        values = [
            codec.encode(
                IMPORTED,
                imported(n, "2" if every and n % every == 0 else "1"),
            )
            for n in range(args.records)
        ]
        print(f"reconciling {args.records} imported records", file=sys.stderr)
        changes = 0
        batch_ms = []
        started = time.perf_counter()
        for start in range(0, len(values), BATCH):
            messages = [Message(start + i, v) for i, v in enumerate(values[start : start + BATCH])]
            began = time.perf_counter()
            (step,) = pipeline.reconcile_many(messages)
            pipeline.remember(step.changes)  # what the agent does once Kafka acked them
            batch_ms.append((time.perf_counter() - began) * 1000)
            changes += len(step.changes)
        elapsed = time.perf_counter() - started
        store.close()

    print(
        json.dumps(
            {
                "bench": "changes",
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "database": url.split(":", 1)[0],
                "records": args.records,
                "changes": changes,
                "echoes_dropped": args.records - changes,
                "elapsed_s": round(elapsed, 2),
                "records_per_s": round(args.records / elapsed),
                "batch_ms_median": round(statistics.median(batch_ms), 1),
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
