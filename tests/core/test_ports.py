"""core.ports: free loopback ports outside the kernel's ephemeral range, with real sockets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core import ports
from core.ports import free_loopback_ports


def ephemeral() -> tuple[int, int]:
    low, high = (int(part) for part in Path(ports._RANGE_FILE).read_text().split())
    return low, high


def test_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral()
    picked = free_loopback_ports(50) + free_loopback_ports(50)
    assert len(set(picked)) == 100  # never the same port twice, across calls too
    assert all(not low <= port <= high for port in picked)
    for port in picked[:5]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))  # the caller's bind succeeds


def test_a_port_held_by_an_outgoing_connection_is_not_free() -> None:
    """What broke a worker's start once: its port, picked by bind(0), became the local port
    of a Kafka client's connection before the worker bound it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            held = client.getsockname()[1]
            assert ports._bindable(held) is False
            with socket.socket() as late:
                late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                with pytest.raises(OSError):
                    late.bind(("127.0.0.1", held))  # as aiohttp and waitress bind


def test_with_no_room_outside_the_range_the_kernel_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = tmp_path / "range"
    everything.write_text("1024\t65535\n")
    monkeypatch.setattr(ports, "_RANGE_FILE", everything)
    assert ports._spans() == []
    (port,) = free_loopback_ports(1)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
