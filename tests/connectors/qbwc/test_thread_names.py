"""The gateway's threads carry their names in the kernel, where per-thread CPU is read."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from core.processes import name_this_thread
from tests.support.servers import running
from tests.support.waiting import answers


def _kernel_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


def test_a_thread_names_itself_in_the_kernel_cut_to_fifteen_bytes() -> None:
    seen: list[str] = []

    def run() -> None:
        name_this_thread("qbsync-a-name-longer-than-the-kernel-keeps")
        seen.append(_kernel_name(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == ["qbsync-a-name-l"]
    # Only the calling thread: this one keeps its own.
    assert _kernel_name(threading.get_native_id()) != "qbsync-a-name-l"


def test_the_gateways_request_threads_are_named_in_the_kernel() -> None:
    served_by: list[str] = []

    def app(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        served_by.append(_kernel_name(threading.get_native_id()))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with running(app, threads=3) as served:
        for _ in range(5):
            assert answers(served.url)
    assert served_by
    assert all(re.fullmatch(r"qbsync-req-[0-2]", name) for name in served_by), served_by
