"""Avro encode and decode per record: qbsync's codec beside bare fastavro, one JSON object.

For each schema the worker meets per event (a customer event in, a command out), the same
sample record is encoded and decoded ``--records`` times by:

- ``codec``: :class:`core.contracts.AvroCodec` (header, fingerprint look-up, checks);
- ``fastavro``: bare ``fastavro.schemaless_writer``/``schemaless_reader`` with the parsed
  schema and a ``BytesIO`` per record, what a plain use of the library costs.

``us`` is CPU microseconds per record (process time, best of ``--repeat``); ``ratio`` is
codec / fastavro (below 1: the codec is cheaper than the plain library call).

    python bench/avro.py [--records 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import time
from collections.abc import Callable
from typing import Any

import fastavro

from core.contracts import AvroCodec
from core.contracts._samples import sample

SCHEMAS = ("com.qbsync.events.CustomerEvent", "com.qbsync.pipeline.Command")


def per_record_us(run: Callable[[], Any], records: int, repeat: int) -> float:
    """Best CPU time of ``repeat`` runs of ``records`` calls, in µs per call."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(records):
            run()
        best = min(best, time.process_time() - start)
    return round(best / records * 1e6, 2)


def measure(codec: AvroCodec, name: str, records: int, repeat: int) -> dict[str, Any]:
    schema = codec.schemas.schema(name)
    record = sample(codec.schemas.standalone[name], seed=7)
    encoded = codec.encode(name, record)
    assert codec.decode(encoded, name)[1] == codec.decode(encoded)[1]

    def bare_encode() -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, record)
        return buffer.getvalue()

    body = bare_encode()

    def bare_decode() -> Any:
        return fastavro.schemaless_reader(io.BytesIO(body), schema, None)

    results = {
        "encode": {
            "codec_us": per_record_us(lambda: codec.encode(name, record), records, repeat),
            "fastavro_us": per_record_us(bare_encode, records, repeat),
        },
        "decode": {
            "codec_us": per_record_us(lambda: codec.decode(encoded, name), records, repeat),
            "fastavro_us": per_record_us(bare_decode, records, repeat),
        },
    }
    for side in results.values():
        side["ratio"] = round(side["codec_us"] / side["fastavro_us"], 3)
    return {"bytes": len(encoded), **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000, help="calls per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is kept")
    args = parser.parse_args()
    codec = AvroCodec()
    result = {
        "bench": "avro",
        "python": platform.python_version(),
        "fastavro": fastavro.__version__,
        "records": args.records,
        "schemas": {name: measure(codec, name, args.records, args.repeat) for name in SCHEMAS},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
