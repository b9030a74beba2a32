"""The pipeline benchmarks (``bench/transform.py``, ``topics.py``, ``e2e.py``) keep working:
each runs with tiny sizes on the session's broker and prints one JSON object whose figures
add up. Timings are reported, never asserted: machines differ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qbsync.brokers import BROKER_KINDS, BrokerInfo

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def run_script(
    script: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``bench/<script>``; the one JSON object it prints."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    report: dict[str, Any] = json.loads(lines[0])
    assert report["cores"] == os.cpu_count()
    return report


def run_bench(
    script: str, broker: BrokerInfo, tmp_path: Path, *args: str, **extra_env: str
) -> dict[str, Any]:
    env = {
        **os.environ,
        **extra_env,
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "QBSYNC_TEST_BROKER": "external",  # the session's broker, whatever kind it is
        "TMPDIR": str(tmp_path),
    }
    if broker.kind == "tansu":  # what qbsync.runtime.use_broker sets for Tansu
        env["QBSYNC_KAFKA_EXACT_WATERMARKS"] = "false"
        env["QBSYNC_WORKER_SESSION_TIMEOUT_S"] = "6"
    report = run_script(script, tmp_path, *args, env=env)
    assert report["broker"]["kind"] in BROKER_KINDS
    assert report["broker"]["version"]
    return report


def test_transform_compares_the_worker_with_a_bare_pass_through(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    report = run_bench(
        "transform.py",
        broker,
        tmp_path,
        "--events",
        "60",
        "--files",
        "2",
        "--tenants-per-file",
        "2",
    )
    assert report["bench"] == "transform"
    assert (report["files"], report["tenants"]) == (2, 4)
    for side in ("worker", "passthrough", "librdkafka"):
        figures = report[side]
        assert figures["complete"] is True
        assert figures["events"] == figures["outputs"] == 60
        assert 0 <= figures["measured_outputs"] <= 60
        for rate, span in (("events_per_s", "elapsed_s"), ("events_per_cpu_s", "cpu_s")):
            if figures[span] >= 0.1:  # rounded to 1 ms: a shorter span is too coarse here
                expected = figures["measured_outputs"] / figures[span]
                assert figures[rate] == pytest.approx(expected, rel=0.01, abs=0.1)
    # The plain loop counts for itself, from its first batch to its last delivery.
    assert report["librdkafka"]["measured_outputs"] == 60

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    assert report["ratio"] == pytest.approx(
        ratio(report["worker"]["events_per_s"], report["passthrough"]["events_per_s"]), abs=0.01
    )
    for peer in ("passthrough", "librdkafka"):
        assert report["cpu_ratio"][peer] == pytest.approx(
            ratio(report["worker"]["events_per_cpu_s"], report[peer]["events_per_cpu_s"]),
            abs=0.01,
        )


def test_transform_workers_compares_two_workers_in_one_group_with_one(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    sizes = ("--events", "60", "--files", "2", "--tenants-per-file", "2", "--warm-up", "8")
    logs = tmp_path / "kept"
    report = run_bench(
        "transform.py",
        broker,
        tmp_path,
        "--workers",
        "2",
        "--rounds",
        "2",
        *sizes,
        "--keep-logs",
        str(logs),
    )
    # --keep-logs: every worker's log of every run, one worker's and the pair's.
    assert sorted(path.name for path in logs.glob("worker-*.log")) == [
        "worker-1r0-0.log",
        "worker-1r1-0.log",
        "worker-2r0-0.log",
        "worker-2r0-1.log",
        "worker-2r1-0.log",
        "worker-2r1-1.log",
    ]
    assert report["bench"] == "transform-scale"
    assert report["events_partitions"] == 2
    assert set(report["workers"]) == {"1", "2"}
    # ABBA: one worker, two, two, one.
    assert [(run["round"], run["workers"]) for run in report["runs"]] == [
        (0, 1),
        (0, 2),
        (1, 2),
        (1, 1),
    ]
    for run in report["runs"]:
        assert run["complete"] is True
        assert run["events"] == run["outputs"] == 60
        assert run["warm_up_events"] == 8
        # The tenants' ids put as many events on each partition (the warm-up's too).
        assert run["events_per_partition"] == [34, 34]
        assert {"broker", "bench", "machine"} <= set(run["other_cpu_s"])
    for count, pooled in report["workers"].items():
        mine = [run for run in report["runs"] if run["workers"] == int(count)]
        assert pooled["runs"] == 2
        assert pooled["complete"] is True
        assert pooled["measured_outputs"] == sum(run["measured_outputs"] for run in mine)
        span = sum(run["elapsed_s"] for run in mine)
        if span:
            assert pooled["events_per_s"] == pytest.approx(
                pooled["measured_outputs"] / span, rel=0.01
            )
    one, two = report["workers"]["1"], report["workers"]["2"]
    if one["events_per_s"] and one["events_per_cpu_s"]:
        assert report["speedup"] == pytest.approx(
            two["events_per_s"] / one["events_per_s"], abs=0.01
        )
        assert report["cpu_ratio"] == pytest.approx(
            two["events_per_cpu_s"] / one["events_per_cpu_s"], abs=0.01
        )
    assert len(report["speedups"]) == 2


def test_topics_reports_first_use_and_steady_sending_per_count(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    report = run_bench("topics.py", broker, tmp_path, "--counts", "3,6", "--events", "30")
    assert report["bench"] == "topics"
    assert [level["files"] for level in report["levels"]] == [3, 6]
    for level in report["levels"]:
        assert level["first_use"]["complete"] is True
        assert level["first_use"]["topics"] == level["files"] - 1
        assert level["steady"]["complete"] is True
        assert level["steady"]["outputs"] == level["steady"]["events"] == 30
        assert level["steady"]["events_per_s"] > 0


def test_topic_writes_reports_both_producers_over_every_topic(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    report = run_bench("topic_writes.py", broker, tmp_path, "--topics", "7")
    assert report["bench"] == "topic_writes"
    assert report["topics"] == 7
    for producer in ("first", "second"):
        figures = report[producer]
        assert (figures["first_half_topics"], figures["second_half_topics"]) == (3, 4)
        assert figures["again_topics"] == 7
        assert min(figures["first_half_s"], figures["second_half_s"], figures["again_s"]) >= 0


def test_e2e_settles_every_command_exactly_once(broker: BrokerInfo, tmp_path: Path) -> None:
    report = run_bench(
        "e2e.py",
        broker,
        tmp_path,
        *("--commands", "60", "--files", "3", "--sessions", "3", "--warm-up", "30"),
    )
    assert report["bench"] == "e2e"
    assert report["complete"] is True
    # The warm-up's 30 went through first, unmeasured; the check covers all 90.
    assert report["warm_up"]["commands"] == 30
    assert report["warm_up"]["settled_s"] > 0
    assert report["settled"] == report["commands"] == 60
    assert report["failed"] == 0
    assert report["mappings"] == 90
    assert report["records_expected"] == report["records_landed"] == 90
    # Each process's CPU over the measured span (the broker's only when the script
    # started it; this one is the session's).
    assert (
        {"worker", "gateway", "bench"}
        <= set(report["cpu_s"])
        <= {
            "worker",
            "gateway",
            "broker",
            "bench",
        }
    )
    assert report["cpu_s"]["gateway"] > 0
    assert report["cpu_ms_per_command"] > 0
    assert report["duplicates"] == report["missing"] == report["unexpected"] == 0
    assert report["unmapped"] == 0
    assert report["files_exact"] == 3
    assert report["exactly_once"] is True
    assert report["qbwc_errors"] == 0
    assert report["soap_calls_per_command"] > 0
    assert report["requests_per_message"] >= 1
    assert report["commands_per_s"] > 0
    assert report["first_polls_s"] > 0  # every file polled once before the clock


def test_e2e_cold_topics_queue_first_still_settles_every_command_once(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    report = run_bench(
        "e2e.py",
        broker,
        tmp_path,
        *("--commands", "24", "--files", "2", "--sessions", "2"),
        *("--cold-topics", "--queue-first"),
    )
    assert report["command_topics"] == "cold: made by the worker"
    assert report["queue_first"] is True
    assert report["warm_up"] == {"commands": 0, "settled_s": None}  # none before queue-first
    assert report["complete"] is True
    assert report["settled"] == report["commands"] == 24
    assert report["exactly_once"] is True
    # Every command was queued before any Web Connector ran, so before any result.
    assert report["commands_queued_s"] <= report["results_posted_s"]


def test_cold_start_reports_the_worker_beside_a_bare_loop(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    # Two CI runs never saw this worker's pass complete: the bench started the worker
    # before it read the command topics' end offsets, and a read slower than the worker's
    # first commands took them for what the topics held already. The read is delayed here
    # past a worker's start, so a pass started before it fails every time. A pass cut
    # (240 s, before the script's timeout) reports its figures and the worker's log.
    worker_log = tmp_path / "worker.log"
    report = run_bench(
        "cold_start.py",
        broker,
        tmp_path,
        *("--files", "4", "--events", "40", "--pass-s", "240", "--worker-log", str(worker_log)),
        BENCH_COLD_OFFSETS_DELAY_S="6",
    )
    assert report["bench"] == "cold_start"
    for side in ("bare", "worker"):
        figures = report[side]
        tail = worker_log.read_text(errors="replace")[-6000:] if side == "worker" else ""
        assert figures["complete"] is True, f"{side}: {figures}\n{tail}"
        assert figures["commands"] == 40, side
        assert figures["files_reached"] == 4, side
        assert 0 < figures["first_command_s"] <= figures["every_file_s"] <= figures["all_s"]


def test_cold_start_describes_a_worker_whose_pass_is_cut(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    # Cut at once: the worker cannot have finished, so the bench asks it what it is doing.
    report = run_bench(
        "cold_start.py", broker, tmp_path, "--files", "2", "--events", "10", "--pass-s", "0"
    )
    worker = report["worker"]
    assert worker["complete"] is False
    diagnosis = worker["diagnosis"]
    assert set(diagnosis) == {"readyz", "metrics", "stacks"}
    # py-spy's dump of the worker's threads: the process it names is the worker.
    assert "Thread " in diagnosis["stacks"], diagnosis["stacks"]
    assert "qbsync" in diagnosis["stacks"], diagnosis["stacks"]
    assert "diagnosis" not in report["bare"]


def test_changes_reports_changes_and_echoes_that_add_up(tmp_path: Path) -> None:
    report = run_script("changes.py", tmp_path, "--records", "40", "--changed", "0.25")
    # One record in four was edited in QuickBooks; the rest are our own writes read back.
    assert (report["changes"], report["echoes_dropped"]) == (10, 30)
    assert report["records_per_s"] > 0


@pytest.mark.parametrize("processes", [1, 2])
def test_gateway_peer_runs_both_sides_on_the_same_workload(
    broker: BrokerInfo, tmp_path: Path, processes: int
) -> None:
    report = run_bench(
        "gateway_peer.py",
        broker,
        tmp_path,
        "--levels",
        "1,2",
        "--commands",
        "6",
        "--per-message",
        "4",
        "--drivers",
        "2",
        "--peer-dir",
        str(REPO / ".cache" / "peer"),
        "--gateway-processes",
        str(processes),
        *(("--gateway-threads", "3") if processes > 1 else ()),
    )
    assert report["bench"] == "gateway_peer"
    assert report["gateway_processes"] == processes
    assert report["wsgi_server"] == (
        "waitress, 16 threads (both)"
        if processes == 1
        else "waitress, 3 threads (qbsync), 16 (peer)"
    )
    assert report["peer"] == "qbwc-kit 0.1.3"
    assert report["warm_rounds"] == 1  # each side drained its files once, unmeasured
    assert [level["sessions"] for level in report["levels"]] == [1, 2]
    for level in report["levels"]:
        for side in ("qbsync", "peer"):
            figures = level[side]
            # Every session ran and QuickBooks answered every add, on both sides.
            assert figures["sessions"] == level["sessions"]
            assert figures["requests_answered"] == 6 * level["sessions"]
            # serverVersion, clientVersion, authenticate, two send/receive pairs (6 adds,
            # 4 to a message), closeConnection.
            assert figures["soap_calls"] == 8 * level["sessions"]
            assert len(figures["calls_per_s_runs"]) == 2  # ABBA: two runs a side
            assert figures["calls_per_s"] > 0
            assert figures["p99_ms"] >= figures["p50_ms"] > 0
            assert figures["driver_cpu_ms_per_call"] > 0
        assert level["ratio"]["calls_per_s"] == pytest.approx(
            level["qbsync"]["calls_per_s"] / level["peer"]["calls_per_s"], rel=0.02
        )


@pytest.mark.parametrize("processes", [1, 2])
def test_gateway_profiles_mode_polls_every_profile_on_schedule(
    broker: BrokerInfo, tmp_path: Path, processes: int
) -> None:
    report = run_bench(
        "gateway.py",
        broker,
        tmp_path,
        *("--profiles", "12", "--every", "2", "--duration", "4", "--window", "2"),
        *("--passwords", "3", "--gateway-processes", str(processes)),
    )
    assert report["mode"] == "profiles"
    assert report["gateway_processes"] == processes
    scale = report["scale"]
    assert scale["profiles"] == 12
    # Each profile polls at 0-2 s and 2-4 s into the run: 24 idle updates, all "none".
    assert scale["polls"] == 24
    assert scale["all_none"] is True
    assert [w["from_s"] for w in scale["windows"]] == [0, 2]
    assert sum(w["calls"] for w in scale["windows"]) <= scale["polls"] * 3
    assert scale["p99_ms"] >= scale["p50_ms"] > 0
    # Created in one transaction, 12 profiles sharing 3 passwords (hashed once each); every
    # first poll is one real scrypt check in the gateway, the measured polls none.
    assert report["setup"]["distinct_passwords"] == 3
    assert scale["first_polls"]["scrypt_cpu_s"] > 0
    assert all(w["cpu_ms_per_poll"] is not None for w in scale["windows"])
    if processes == 1:
        assert scale["first_polls"]["scrypt_checks"] == 12
        assert scale["first_polls"]["whole_rounds"] == 0
        assert scale["measured_scrypt_checks"] == 0
        return
    # Each process checks a profile's password once, for itself, wherever the kernel sent
    # its polls: at least once per profile, at most once per profile and process; the
    # whole rounds go on until one costs no check, and what was left is paid when measured.
    first = scale["first_polls"]["scrypt_checks"]
    assert 12 <= first <= 24
    assert first + scale["measured_scrypt_checks"] <= 24
    assert scale["first_polls"]["whole_rounds"] >= 1
