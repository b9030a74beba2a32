"""Child processes of ``qbsync run`` and ``qbsync demo``: started with the same Python,
stopped with SIGTERM (then SIGKILL after a grace period), never left behind; under
``qbsync run``, :class:`Supervised`: started again with backoff whenever one exits."""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = [
    "ChildProcess",
    "Supervised",
    "child_process",
    "die_with_parent",
    "name_this_thread",
    "qbsync_argv",
    "spawn",
]

log = logging.getLogger(__name__)

# A line of either log format (qbsync.logs) at ERROR or CRITICAL, or a traceback's first line.
_TROUBLE = re.compile(r' (ERROR|CRITICAL) |"level": "(ERROR|CRITICAL)"|^Traceback ')


class ChildProcess:
    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path | None) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return ""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def first_error(self, lines: int = 15) -> str:
        """The log from its first ERROR, CRITICAL or traceback line, at most ``lines`` lines:
        usually the cause of an exit, where the last line is the shutdown it led to."""
        if self.log_path is None:
            return ""
        try:
            logged = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for at, line in enumerate(logged):
            if _TROUBLE.search(line):
                return "\n".join(logged[at : at + lines])
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
_PR_SET_NAME = 15
_KERNEL_NAME_BYTES = 15  # the kernel keeps 16 with the terminating NUL


def name_this_thread(name: str) -> None:
    """Linux: the calling thread's name in the kernel (``top -H``, ``ps -L``,
    ``/proc/<pid>/task/*/comm``), cut to 15 bytes. CPython leaves every thread with the
    process's name, so a gateway's CPU could not be told apart by thread without a
    profiler (``bench/gateway_peer.py`` reports it by these names). Only the calling
    thread: naming another through its handle races with that thread's exit. Elsewhere,
    or without a C library to ask: nothing."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode("ascii", "replace")[:_KERNEL_NAME_BYTES], 0, 0, 0)
    except (OSError, AttributeError):
        return


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


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path | None,
    cwd: Path | None = None,
) -> ChildProcess:
    """Start ``argv`` with ``env`` added; its output is appended to ``log_path``, or with
    None goes where this process's goes (a container's log)."""
    if log_path is None:
        process = _popen(argv, env, cwd, None)
    else:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as output:
            process = _popen(argv, env, cwd, output)
    log.info("child started", extra={"child": name, "pid": process.pid})
    return ChildProcess(name, process, log_path)


def _popen(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path | None, output: IO[bytes] | None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter, or the broker's JVM
        list(argv),
        env={**os.environ, **env},
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )


def qbsync_argv(args: Sequence[str]) -> list[str]:
    """``python -m qbsync <args>`` with this interpreter."""
    return [sys.executable, "-m", "qbsync", *args]


@contextmanager
def child_process(
    name: str, args: list[str], *, env: Mapping[str, str], log_dir: Path
) -> Iterator[ChildProcess]:
    """Run ``python -m qbsync <args>`` with ``env`` added; its output goes to a log file."""
    child = spawn(name, qbsync_argv(args), env=env, log_path=log_dir / f"{name}.log")
    try:
        yield child
    finally:
        code = child.stop()
        log.info("child stopped", extra={"child": name, "code": code})


class Supervised:
    """A child kept alive: :meth:`check` (called every second or so) starts it again after
    it exited, whatever the cause (a crash, kill -9, out of memory), waiting
    ``backoff_s``, then twice that ... up to ``max_backoff_s`` between attempts; a child
    that stayed up ``stable_s`` starts counting from the first attempt again. Each restart
    is logged with the child's name, exit code and attempt. :meth:`stop` ends it for good.
    """

    def __init__(
        self,
        name: str,
        start: Callable[[], ChildProcess],
        *,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        stable_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._start = start
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._stable_s = stable_s
        self._clock = clock
        self.attempt = 0
        self.restarts = 0
        self._due: float | None = None
        self.child = start()
        self._started_at = clock()

    @property
    def pid(self) -> int:
        return int(self.child.process.pid)

    def check(self) -> bool:
        """Start the child again if it exited and its backoff has passed; True if it did."""
        now = self._clock()
        if self.child.alive():
            if self.attempt and now - self._started_at >= self._stable_s:
                self.attempt = 0
            return False
        if self._due is None:
            self.attempt += 1
            delay = min(self._backoff_s * 2 ** (self.attempt - 1), self._max_backoff_s)
            self._due = now + delay
            log.warning(
                "child exited; restarting",
                extra={
                    "child": self.name,
                    "code": self.child.process.returncode,
                    "attempt": self.attempt,
                    "in_s": delay,
                },
            )
        if now < self._due:
            return False
        self._due = None
        self.child = self._start()
        self._started_at = now
        self.restarts += 1
        return True

    def stop(self, grace: float = 20.0) -> int:
        code = self.child.stop(grace)
        log.info("child stopped", extra={"child": self.name, "code": code})
        return code
