"""Avro encode and decode per record: qbsync's codec beside bare fastavro, one JSON object.

For each schema the worker meets per event (a customer event in, a command out), the same
sample record is encoded and decoded ``--records`` times by:

- ``codec``: :class:`core.contracts.AvroCodec` (header, fingerprint look-up, checks), whose
  bodies are written by the writer generated for the schema (``core/contracts/_compiled.py``)
  and read by the reader generated for it (``core/contracts/_compiled_read.py``);
- ``codec_fastavro``: the same codec with ``compiled_writers=False`` and
  ``compiled_readers=False``, writing and reading bodies with fastavro as before issue #20;
- ``fastavro``: bare ``fastavro.schemaless_writer``/``schemaless_reader`` with the parsed
  schema and a ``BytesIO`` per record, what a plain use of the library costs;
- ``compiled``: the bare generated writer or reader, the counterpart of bare fastavro's.

``us`` is CPU microseconds per record (process time, best of ``--repeat``; the columns of a
side take turns in each round, so a busy machine slows them alike); ``ratio`` is codec /
fastavro (below 1: the codec is cheaper than the plain library call), ``compiled_ratio``
compiled / fastavro, ``codec_ratio`` codec / codec_fastavro (now against before), for the
encode and the decode alike.

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
from core.contracts._compiled import compile_writer
from core.contracts._compiled_read import compile_reader
from core.contracts._samples import sample

SCHEMAS = ("com.qbsync.events.CustomerEvent", "com.qbsync.pipeline.Command")


def per_record_us(
    runs: dict[str, Callable[[], Any]], records: int, repeat: int
) -> dict[str, float]:
    """Best CPU time of ``repeat`` rounds of ``records`` calls of each run, in µs per call;
    within a round the runs take turns."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for label, run in runs.items():
            start = time.process_time()
            for _ in range(records):
                run()
            best[label] = min(best[label], time.process_time() - start)
    return {f"{label}_us": round(spent / records * 1e6, 2) for label, spent in best.items()}


def measure(
    codec: AvroCodec, before: AvroCodec, name: str, records: int, repeat: int
) -> dict[str, Any]:
    schema = codec.schemas.schema(name)
    record = sample(codec.schemas.standalone[name], seed=7)
    encoded = codec.encode(name, record)
    assert encoded == before.encode(name, record)
    assert codec.decode(encoded, name) == before.decode(encoded, name)
    compiled = compile_writer(schema)
    assert compiled is not None, f"{name} does not compile"
    read = compile_reader(schema)
    assert read is not None, f"{name}: no reader compiles"

    def bare_encode() -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schema, record)
        return buffer.getvalue()

    body = bare_encode()
    assert compiled(record) == body

    def bare_decode() -> Any:
        return fastavro.schemaless_reader(io.BytesIO(body), schema, None)

    assert read(body) == (bare_decode(), len(body))

    encode = per_record_us(
        {
            "codec": lambda: codec.encode(name, record),
            "codec_fastavro": lambda: before.encode(name, record),
            "fastavro": bare_encode,
            "compiled": lambda: compiled(record),
        },
        records,
        repeat,
    )
    encode["ratio"] = round(encode["codec_us"] / encode["fastavro_us"], 3)
    encode["compiled_ratio"] = round(encode["compiled_us"] / encode["fastavro_us"], 3)
    encode["codec_ratio"] = round(encode["codec_us"] / encode["codec_fastavro_us"], 3)
    decode = per_record_us(
        {
            "codec": lambda: codec.decode(encoded, name),
            "codec_fastavro": lambda: before.decode(encoded, name),
            "fastavro": bare_decode,
            "compiled": lambda: read(body),
        },
        records,
        repeat,
    )
    decode["ratio"] = round(decode["codec_us"] / decode["fastavro_us"], 3)
    decode["compiled_ratio"] = round(decode["compiled_us"] / decode["fastavro_us"], 3)
    decode["codec_ratio"] = round(decode["codec_us"] / decode["codec_fastavro_us"], 3)
    return {"bytes": len(encoded), "encode": encode, "decode": decode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000, help="calls per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is kept")
    args = parser.parse_args()
    codec = AvroCodec()
    before = AvroCodec(compiled_writers=False, compiled_readers=False)
    result = {
        "bench": "avro",
        "python": platform.python_version(),
        "fastavro": fastavro.__version__,
        "records": args.records,
        "schemas": {
            name: measure(codec, before, name, args.records, args.repeat) for name in SCHEMAS
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
