"""Free loopback ports for the servers that ``qbsync demo``, ``qbsync run``, the local broker,
the tests and the benches start: picked *outside* the kernel's ephemeral range.

Why not ``bind(("127.0.0.1", 0))``: the kernel answers from its ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``, 32768-60999 by default), the same range every
outgoing connection takes its local port from. Between the pick and the server's bind (a
child process starting: seconds) any Kafka client on the machine may open a connection from
that very port, and the bind fails with EADDRINUSE (tests/core/test_ports.py shows it). A
worker lost in one CI run of the full suite ended its log exactly as one whose web server's
bind fails that way. A port outside the range is only ever taken by a deliberate bind.
"""

from __future__ import annotations

import random
import socket
from collections import deque
from pathlib import Path

__all__ = ["free_loopback_ports"]

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000  # below: well-known and commonly configured ports (5432, 8080, 9092 ...)
_TRIES = 500
# Handed out recently by this process: a caller may not have bound its port yet.
_handed: deque[int] = deque(maxlen=4096)


def free_loopback_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nobody has bound on 127.0.0.1 right now, none handed out
    by this process before (of its last 4,096), outside the ephemeral range when there is
    room; else, as a last resort, from the kernel."""
    picked: list[int] = []
    spans = _spans()
    pick = random.SystemRandom()
    for _ in range(_TRIES * count):
        if len(picked) == count or not spans:
            break
        low, high = pick.choice(spans)
        port = pick.randrange(low, high)
        if port in picked or port in _handed or not _bindable(port):
            continue
        picked.append(port)
    while len(picked) < count:  # no room outside the range: the kernel's pick, as before
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in picked:
            picked.append(port)
    _handed.extend(picked)
    return picked


def _spans() -> list[tuple[int, int]]:
    """Half-open port spans outside the ephemeral range, of at least 1,000 ports."""
    try:
        low, high = (int(part) for part in _RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default; elsewhere a guess is as good
    spans = [(_LOWEST, low), (high + 1, 65536)]
    return [(start, end) for start, end in spans if end - start >= 1000]


def _bindable(port: int) -> bool:
    """Whether a socket can bind ``port`` now, without ``SO_REUSEADDR`` (so no listener, no
    connection, not even one in TIME_WAIT, holds it)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
