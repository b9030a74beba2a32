"""Child processes of ``qbsync run`` and ``qbsync demo``: started with the same Python,
stopped with SIGTERM (then SIGKILL after a grace period), never left behind."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ChildProcess", "child_process", "die_with_parent"]

log = logging.getLogger(__name__)


class ChildProcess:
    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 20.0) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("child did not stop; killing", extra={"child": self.name})
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode or 0)


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM if its parent dies, even by SIGKILL, so a killed
    ``qbsync run`` or ``demo`` leaves nothing running. Elsewhere: nothing."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return


@contextmanager
def child_process(
    name: str, args: list[str], *, env: Mapping[str, str], log_dir: Path
) -> Iterator[ChildProcess]:
    """Run ``python -m qbsync <args>`` with ``env`` added; its output goes to a log file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "qbsync", *args],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    child = ChildProcess(name, process, log_path)
    log.info("child started", extra={"child": name, "pid": process.pid})
    try:
        yield child
    finally:
        code = child.stop()
        log.info("child stopped", extra={"child": name, "code": code})
