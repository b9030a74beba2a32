"""Assemble a gateway from settings: store, Kafka adapters, the conversation, SOAP, WSGI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from spyne.server.wsgi import WsgiApplication

from connectors.kafka import CommandQueue, RecordProducer
from connectors.qbwc._gateway import GatewayConfig, WebConnectorGateway
from connectors.qbwc._soap import soap_application
from connectors.qbwc._wsgi import WsgiApp, build_wsgi
from connectors.store import Store
from qbsync import __version__
from qbsync.contracts import AvroCodec
from qbsync.settings import Settings

__all__ = ["Gateway", "create_gateway"]


@dataclass
class Gateway:
    wsgi: WsgiApp
    conversation: WebConnectorGateway
    _closers: list[object] = field(default_factory=list)

    def close(self) -> None:
        for closer in self._closers:
            close = getattr(closer, "close", None)
            if callable(close):
                close()


def create_gateway(settings: Settings) -> Gateway:
    kafka = settings.kafka.client_config()
    store = Store(settings.database_url)
    commands = CommandQueue(
        kafka,
        group_id="qbsync-gateway",
        topic_for=settings.topics.commands,
        exact_watermarks=settings.kafka.exact_watermarks,
    )
    sink = RecordProducer(kafka)
    conversation = WebConnectorGateway(
        store=store,
        commands=commands,
        sink=sink,
        codec=AvroCodec(),
        config=GatewayConfig(
            results_topic=settings.topics.results,
            dead_letters_topic=settings.topics.dead_letters,
            commands_topic_prefix=settings.topics.commands(""),
            batch_size=settings.gateway.batch_size,
            batch_max_bytes=settings.gateway.batch_max_bytes,
            session_ttl=timedelta(seconds=settings.gateway.session_ttl_s),
            qbxml_version=settings.worker.qbxml_version,
            server_version=f"qbsync {__version__}",
        ),
    )
    soap = WsgiApplication(soap_application(conversation))
    wsgi = build_wsgi(soap, ready=lambda: True)
    return Gateway(wsgi=wsgi, conversation=conversation, _closers=[commands, sink, store])
