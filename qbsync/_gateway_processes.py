"""``qbsync gateway`` with ``QBSYNC_GATEWAY_PROCESSES`` above 1: several gateway processes
on one port, kept alive.

Why processes: a Python process runs one request thread at a time (the GIL), so from ~16
busy Web Connector sessions one gateway process is one core however many threads it has
(docs/gateway-scale.md has the measurements). Each child is a whole ``qbsync gateway``
(``processes`` 1) binding the port with SO_REUSEPORT: the kernel hands each new connection
to one of them, and a Web Connector's keep-alive connection stays with the one it reached.
They are replicas on one host: they share nothing but the store and the broker, the store's
lease keeps one session per company file across them, and a session whose connection moves
to another (a reconnect) goes on there, as it does across pods.

This process only supervises: it starts the children, starts one again with backoff when it
exits (a crash, kill -9, out of memory: :class:`core.processes.Supervised`), and on SIGTERM
or SIGINT stops them all and returns. The children write to this process's own output (the
container's log). Their counters live in files in a folder made here for the run
(``PROMETHEUS_MULTIPROC_DIR``), which every child's ``/metrics`` sums, so a scrape reaching
any of them sees the whole gateway; the folder is removed at the end. Killed by SIGKILL,
this process takes its children with it (``die_with_parent``).
"""

from __future__ import annotations

import logging
import signal
import socket
import tempfile
import threading
from functools import partial

from connectors.qbwc import MULTIPROCESS_DIR
from core.errors import ConfigurationError
from core.processes import Supervised, qbsync_argv, spawn
from core.settings import Settings
from qbsync.runtime import child_env

__all__ = ["check_shareable", "serve_processes"]

log = logging.getLogger(__name__)


def check_shareable(port: int, *, platform_shares: bool | None = None) -> None:
    """:class:`ConfigurationError` when several processes could not share ``port``: port 0
    (each would get a port of its own) or no ``SO_REUSEPORT`` here (not Linux)."""
    if port == 0:
        raise ConfigurationError(
            "QBSYNC_GATEWAY_PROCESSES above 1 needs a fixed QBSYNC_GATEWAY_PORT (or --port):"
            " with port 0 each process would listen on a port of its own"
        )
    shares = hasattr(socket, "SO_REUSEPORT") if platform_shares is None else platform_shares
    if not shares:
        raise ConfigurationError(
            "QBSYNC_GATEWAY_PROCESSES above 1 needs SO_REUSEPORT (Linux), which this system"
            " lacks; set it to 1 and run more replicas instead"
        )


def serve_processes(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run ``settings.gateway.processes`` gateway processes until ``stop`` is set (by default:
    until SIGTERM or SIGINT reaches this process). Refused, naming the setting, where the
    processes could not share one port."""
    check_shareable(settings.gateway.port)
    if stop is None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    count = settings.gateway.processes
    with tempfile.TemporaryDirectory(prefix="qbsync-gateway-metrics-") as shared:
        env = {
            **child_env(settings),
            "QBSYNC_GATEWAY_PROCESSES": "1",
            "QBSYNC_GATEWAY_REUSE_PORT": "true",
            MULTIPROCESS_DIR: shared,
        }
        argv = qbsync_argv(["gateway"])
        children = [
            Supervised(name, partial(spawn, name, argv, env=env, log_path=None))
            for name in (f"gateway-{index}" for index in range(1, count + 1))
        ]
        log.info(
            "gateway processes started",
            extra={"processes": count, "port": settings.gateway.port},
        )
        try:
            while not stop.wait(1.0):
                for child in children:
                    child.check()
        finally:
            # All asked at once, then each waited for: they stop in parallel.
            for child in children:
                if child.child.alive():
                    child.child.process.send_signal(signal.SIGTERM)
            for child in children:
                child.stop()
    log.info("gateway processes stopped", extra={"processes": count})
