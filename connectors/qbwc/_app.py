"""Assemble a gateway from settings: store, Kafka adapters, the conversation, SOAP, WSGI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from spyne import const as spyne_const
from spyne.server.wsgi import WsgiApplication

from connectors.kafka import BacklogReader, CommandQueue, RecordProducer, WorkIndex
from connectors.qbwc._backlog_metrics import BacklogCollector
from connectors.qbwc._gateway import GatewayConfig, WebConnectorGateway
from connectors.qbwc._http_metrics import count_responses
from connectors.qbwc._imports import ImportConfig
from connectors.qbwc._lean import LeanSoap
from connectors.qbwc._log_policy import install_log_policy
from connectors.qbwc._login import LoginPolicy
from connectors.qbwc._metrics import GatewayMetrics, StoreCollector
from connectors.qbwc._soap import NAMESPACE, Operations, soap_application
from connectors.qbwc._wsdl import WsdlCache
from connectors.qbwc._wsgi import WsgiApp, build_wsgi
from connectors.store import Store
from core import __version__
from core.build_info import register_process_metrics
from core.contracts import codec_from_settings
from core.settings import Settings

__all__ = ["MULTIPROCESS_DIR", "Gateway", "create_gateway"]

# The client library's own variable: counters kept in files there, one per process.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# The consumer group whose committed offset on each file's topic is what was delivered.
_GROUP = "qbsync-gateway"


@dataclass
class Gateway:
    wsgi: WsgiApp
    conversation: WebConnectorGateway
    registry: CollectorRegistry
    _closers: list[object] = field(default_factory=list)

    def close(self) -> None:
        for closer in self._closers:
            close = getattr(closer, "close", None)
            if callable(close):
                close()


def _registries() -> tuple[CollectorRegistry, CollectorRegistry]:
    """Where this process counts, and what its ``/metrics`` answers.

    One registry per gateway: several gateways in one process (tests) never collide. In one
    of several gateway processes (``PROMETHEUS_MULTIPROC_DIR``, set by
    ``qbsync/_gateway_processes.py`` before the client library is imported, so counters
    live in files there), ``/metrics`` answers for all of them, whichever is asked: every
    process's counters summed from those files, beside the store's and the broker's views.
    """
    registry = CollectorRegistry()
    shared = os.environ.get(MULTIPROCESS_DIR)
    if not shared:
        register_process_metrics(registry)
        return registry, registry
    scraped = CollectorRegistry()
    MultiProcessCollector(scraped, path=shared)  # type: ignore[no-untyped-call]
    register_process_metrics(scraped, own_process=False)
    return registry, scraped


def create_gateway(settings: Settings) -> Gateway:
    kafka = settings.kafka.client_config()
    # At least one kept connection per request thread: with fewer, the threads beyond the pool
    # open and close a PostgreSQL connection per call (a 10-minute run at 16 threads opened
    # 3,193 of them, and p99 grew with them).
    store = Store(
        settings.database_url,
        pool_size=max(settings.database.pool_size, settings.gateway.threads),
        max_overflow=settings.database.max_overflow,
    )
    index = None
    if settings.gateway.work_index_s > 0 and settings.kafka.exact_watermarks:
        index = WorkIndex(
            kafka,
            group_id="qbsync-gateway",
            topic_prefix=settings.topics.commands(""),
            refresh_s=settings.gateway.work_index_s,
        )
        index.start()
    commands = CommandQueue(
        kafka,
        group_id=_GROUP,
        topic_for=settings.topics.commands,
        exact_watermarks=settings.kafka.exact_watermarks,
        consumers=settings.gateway.kafka_consumers,
        index=index,
        read_ahead=settings.gateway.read_ahead,
    )
    sink = RecordProducer(kafka)
    registry, scraped = _registries()
    metrics = GatewayMetrics(registry)
    scraped.register(StoreCollector(store, stalled_factor=settings.gateway.stalled_factor))

    def enabled_files() -> list[str]:
        return [settings.topics.commands(p.id) for p in store.profiles() if p.enabled]

    scraped.register(
        BacklogCollector(
            BacklogReader(kafka, group_id=_GROUP),
            enabled_files,
            interval_s=settings.gateway.backlog_interval_s,
        )
    )
    conversation = WebConnectorGateway(
        store=store,
        commands=commands,
        sink=sink,
        codec=codec_from_settings(settings),
        config=GatewayConfig(
            results_topic=settings.topics.results,
            dead_letters_topic=settings.topics.dead_letters,
            commands_topic_prefix=settings.topics.commands(""),
            batch_size=settings.gateway.batch_size,
            batch_max_bytes=settings.gateway.batch_max_bytes,
            session_ttl=timedelta(seconds=settings.gateway.session_ttl_s),
            qbxml_version=settings.worker.qbxml_version,
            server_version=f"qbsync {__version__}",
            min_client_version=settings.gateway.min_client_version,
            refuse_client_below=settings.gateway.refuse_client_below,
            imports=ImportConfig(
                entities=settings.gateway.import_entities,
                interval=timedelta(seconds=settings.gateway.import_interval_s),
                page_size=settings.gateway.import_page_size,
            ),
            imports_topic=settings.topics.imports,
            profile_cache_s=settings.gateway.profile_cache_s,
            login=LoginPolicy(
                free_failures=settings.gateway.login_free_failures,
                max_lockout=timedelta(seconds=settings.gateway.login_max_lockout_s),
                global_failures_per_minute=settings.gateway.login_global_failures_per_minute,
                kdf_concurrency=settings.gateway.login_kdf_concurrency,
                kdf_wait=settings.gateway.login_kdf_wait_s,
            ),
        ),
        observer=metrics,
    )
    # spyne ends a request with a full gc.collect() when a second has passed since the last
    # one (MIN_GC_INTERVAL): under load every request thread stalls behind it (~27 ms). Our
    # requests leave no file descriptors to cycles, and CPython's own generational collector
    # stays on, so the full collection is taken off the request path (process-wide, as
    # spyne's own setting is).
    spyne_const.MIN_GC_INTERVAL = float("inf")
    operations = Operations(conversation)
    application = soap_application(operations)
    lean = LeanSoap(operations, metrics.soap_call) if settings.gateway.soap_path == "lean" else None
    # spyne's loggers all exist once the application is built: no request body reaches a log.
    install_log_policy()
    metrics.attach(application)
    wsgi = count_responses(
        build_wsgi(
            WsgiApplication(application),
            ready=store.ping,
            registry=scraped,
            wsdl=WsdlCache(application, NAMESPACE),
            public_url=settings.gateway.public_url,
            max_body_bytes=settings.gateway.max_body_bytes,
            refused=metrics.request_refused,
            lean=lean.answer if lean is not None else None,
        ),
        registry,
    )
    return Gateway(
        wsgi=wsgi,
        conversation=conversation,
        registry=scraped,
        _closers=[index, conversation, commands, sink, store],
    )
