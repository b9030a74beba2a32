"""Run the fault cases and print one JSON object; exit 1 unless every case held.

``{"cases_tried": N, "held": N, "failed": [names], "lost": 0, "duplicated": 0,
"cases": {name: {"held", "detail", "lost", "duplicated", "elapsed_s", "needs"}}, ...}``

``lost`` and ``duplicated`` add up the data cases' counts in the sandbox company files (what
QuickBooks holds). Progress goes to stderr. The broker is the test broker
(``qbsync.brokers``; ``QBSYNC_TEST_BROKER=kafka`` forces Apache Kafka).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from faults._cases import CASES, Case, Outcome
from faults._rig import Rig
from qbsync.brokers import BrokerInfo, running_broker

__all__ = ["main", "run_cases"]


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class _Broker:
    """The broker, restartable on its data directory (the ``broker-restart`` case)."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._context: AbstractContextManager[BrokerInfo] | None = None

    def start(self) -> BrokerInfo:
        self._context = running_broker(data_dir=self._data_dir)
        return self._context.__enter__()

    def stop(self) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(None, None, None)


def _run_one(rig: Rig, case: Case) -> tuple[Outcome, float]:
    started = time.monotonic()
    try:
        outcome = case.run(rig)
    except Exception as exc:  # a case that breaks did not hold; the suite goes on
        _say(traceback.format_exc())
        outcome = Outcome(False, f"error: {type(exc).__name__}: {str(exc)[:200]}")
    for child in (rig.gateway, rig.worker):
        if child is not None and not child.alive():
            _say(f"{child.name} died during {case.name}; restarting it")
            outcome = Outcome(False, f"{child.name} died: {outcome.detail}", outcome.lost)
            (rig.start_gateway if child is rig.gateway else rig.start_worker)()
    return outcome, time.monotonic() - started


def run_cases(names: list[str] | None = None) -> dict[str, Any]:
    chosen = [c for c in CASES if not names or c.name in names]
    unknown = sorted(set(names or []) - {c.name for c in CASES})
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)} (see --list)")
    started = time.monotonic()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qbsync-faults-") as temporary:
        work = Path(temporary)
        broker = _Broker(work / "broker")
        info = broker.start()
        _say(f"broker: {info.describe()}")
        rig = Rig(info, work)

        def restart_broker() -> None:
            rig.stop(rig.gateway)
            rig.stop(rig.worker)
            broker.stop()
            rig.use(broker.start())
            rig.start_gateway()
            rig.start_worker()

        rig.restart_broker = restart_broker  # type: ignore[attr-defined]
        try:
            rig.start_gateway()
            rig.start_worker()
            for case in chosen:
                _say(f"case {case.name} ...")
                outcome, elapsed = _run_one(rig, case)
                _say(f"case {case.name}: {'held' if outcome.held else 'FAILED'} {outcome.detail}")
                entry: dict[str, Any] = {
                    "held": outcome.held,
                    "detail": outcome.detail,
                    "elapsed_s": round(elapsed, 1),
                }
                if case.data:
                    entry["lost"] = outcome.lost
                    entry["duplicated"] = outcome.duplicated
                if case.needs:
                    entry["needs"] = case.needs
                report[case.name] = entry
        finally:
            rig.close()
            broker.stop()
        broker_text = rig.broker.describe()
    failed = [name for name, entry in report.items() if not entry["held"]]
    data = [e for e in report.values() if "lost" in e]
    return {
        "cases_tried": len(report),
        "held": len(report) - len(failed),
        "failed": failed,
        "lost": sum(e["lost"] or 0 for e in data),
        "duplicated": sum(e["duplicated"] or 0 for e in data),
        "data_cases": len(data),
        "broker": broker_text,
        "elapsed_s": round(time.monotonic() - started, 1),
        "cases": report,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES:
            sys.stdout.write(case.name + (f"  (needs {case.needs})" if case.needs else "") + "\n")
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or None
    result = run_cases(names)
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    complete = not result["failed"] and not result["lost"] and not result["duplicated"]
    return 0 if complete else 1
