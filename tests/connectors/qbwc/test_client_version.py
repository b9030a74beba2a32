"""clientVersion: accept, warn (W:) or refuse (E:) by the Web Connector's version."""

from __future__ import annotations

import pytest

from connectors.qbwc import GatewayConfig, WebConnectorGateway
from core.contracts import AvroCodec


def gateway(**config: str) -> WebConnectorGateway:
    return WebConnectorGateway(
        store=None,  # type: ignore[arg-type]  # clientVersion never touches it
        commands=None,  # type: ignore[arg-type]
        sink=None,  # type: ignore[arg-type]
        codec=AvroCodec(),
        config=GatewayConfig(
            results_topic="r", dead_letters_topic="d", commands_topic_prefix="c.", **config
        ),
    )


@pytest.mark.parametrize(
    ("version", "answer"),
    [
        ("2.3.0.215", ""),
        ("2.1.0.0", ""),
        ("2.0.1.0", "W:"),
        ("1.5.0.0", "E:"),
        ("", ""),
    ],
)
def test_versions(version: str, answer: str) -> None:
    reply = gateway(min_client_version="2.1.0.0", refuse_client_below="2.0.0.0").client_version(
        version
    )
    assert reply.startswith(answer) if answer else reply == ""
    if answer:
        assert version in reply


def test_never_refused_unless_configured() -> None:
    assert gateway().client_version("1.0.0.0").startswith("W:")
