"""The Faust app, built from settings by :func:`create_app` (never at import time).

Agents stay thin: they take batches, hand them to the :class:`~streams._pipeline.Pipeline`
in a thread, and carry out the steps it returns (:mod:`streams._runner`).
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from connectors.kafka import ProducerPool, ensure_command_topics
from connectors.store import Store
from core.contracts import codec_from_settings
from core.settings import KafkaSettings, Settings
from streams._delivery import Halt, process
from streams._delivery import sweep as sweep_guarded
from streams._feed import WorkerApp, ramp
from streams._halt import HALTED, exit_now
from streams._pipeline import Failure, Pipeline, Record, Source, Step
from streams._runner import carry_out, release, sweep_once
from streams._table_recovery import GuardedTableManager
from streams.parking import faust_lot
from streams.sensor import FaustConsumer, PipelineSensor

__all__ = [
    "HALTED",
    "Failure",
    "Pipeline",
    "Source",
    "Step",
    "WorkerProcess",
    "broker_credentials",
    "carry_out",
    "create_app",
    "release",
    "sweep_once",
]

log = logging.getLogger(__name__)


def broker_credentials(kafka: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """The worker's broker authentication, from the same settings as every other client:
    TLS with the CA (and, for mutual TLS, the client certificate and key), SASL (over TLS
    or not); None for PLAINTEXT."""
    context: ssl.SSLContext | None = None
    if kafka.uses_tls:
        try:
            context = ssl.create_default_context(cafile=kafka.ssl_ca_location or None)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"QBSYNC_KAFKA_SSL_CA_LOCATION={kafka.ssl_ca_location!r} is not a readable PEM"
                f" CA file: {exc}"
            ) from None
        if kafka.ssl_certificate_location:
            try:
                context.load_cert_chain(
                    kafka.ssl_certificate_location,
                    kafka.ssl_key_location or None,
                    password=kafka.ssl_key_password.get_secret_value() or None,
                )
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    "QBSYNC_KAFKA_SSL_CERTIFICATE_LOCATION / _SSL_KEY_LOCATION /"
                    f" _SSL_KEY_PASSWORD do not make a client certificate: {exc}"
                ) from None
    if kafka.sasl_mechanism:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class WorkerProcess(faust.Worker):
    """Faust's worker (mode's) without its debugging signals. mode's SIGUSR1 printed every
    thread's stack *with its local variables* to stderr, which is the worker's log: a
    Kafka client's config with its SASL password, a database URL with its password, an
    event's payload. Here SIGUSR1 dumps the threads' stacks alone (:mod:`faulthandler`).
    mode's SIGUSR2 opened pdb in the event loop's thread: a worker with no terminal (every
    deployed one) stopped there for good, alive and doing nothing; here it is logged and
    ignored."""

    def _on_sigusr1(self) -> None:
        log.warning("SIGUSR1: the threads' stacks follow (no variables)")
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)

    def _on_sigusr2(self) -> None:
        log.warning("SIGUSR2 ignored (no debugger in a worker)")


def create_app(settings: Settings, *, store: Store | None = None) -> faust.App:
    """Build the worker's Faust app. ``store`` defaults to the configured database."""
    if not settings.kafka.bootstrap_servers:
        raise ValueError("QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: no broker to connect to")
    topics = settings.topics
    if topics.events_partitions != topics.results_partitions:
        # The parking table is partitioned like both (see streams.parking): a tenant's parked
        # events and the results releasing them must sit on the same partition index.
        raise ValueError(
            f"QBSYNC_TOPIC_EVENTS_PARTITIONS ({topics.events_partitions}) and"
            f" QBSYNC_TOPIC_RESULTS_PARTITIONS ({topics.results_partitions}) must be equal"
        )
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka.bootstrap_servers.split(",")]
    # Faust logs a failed delivery with the whole message (payload included) at WARNING;
    # streams._delivery reports it instead, with ids and the error's name only.
    logging.getLogger("faust.topics").setLevel(logging.ERROR)
    credentials = broker_credentials(settings.kafka)
    app = WorkerApp(
        settings.worker.app_id,
        broker=brokers,
        store="memory://",
        # Faust's own folder (not our state: tables live in their changelog topics); in the
        # data dir, not "<app_id>-data" in whatever directory the worker started in.
        datadir=str(settings.data_dir / "faust"),
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=settings.worker.web_port > 0,
        web_port=settings.worker.web_port or 6066,
        # Loopback by default like the gateway; the chart sets QBSYNC_WORKER_WEB_HOST=0.0.0.0
        # so probes and scrapes reach the pod.
        web_host=settings.worker.web_host,
        web_bind=settings.worker.web_host,
        # Faust's own declarations (its table changelog, when `prepare_topics` did not
        # create it first); Faust needs a number where Kafka takes -1 for "the default".
        topic_replication_factor=max(topics.changelog_replicas, 1),
        topic_allow_declare=True,
        topic_partitions=topics.events_partitions,
        autodiscover=False,
        producer_acks=-1,
        broker_credentials=credentials,
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.worker.session_timeout_s / 3),
        broker_commit_interval=settings.worker.commit_interval_s,
        # A recovery step that times out stops the worker instead of leaving it idle for
        # good (streams._table_recovery).
        TableManager=GuardedTableManager,
        # No "<app id>-__assignor-__leader" topic: it serves only Faust's on_leader timers,
        # which the worker has none of, and each start declared and subscribed to it (a
        # CreateTopics bounded only by the producer's 20-minute timeout; a subscription
        # whose late metadata makes the group join again).
        topic_disable_leader=True,
    )
    registry = CollectorRegistry()
    sensor = PipelineSensor(topics, registry)
    sensor.watch_consumer(lambda: FaustConsumer(app))
    app.sensors.add(sensor)
    database = settings.database
    pipeline = Pipeline(
        settings,
        store
        or Store(
            settings.database_url, pool_size=database.pool_size, max_overflow=database.max_overflow
        ),
        codec_from_settings(settings),
        observer=sensor,
    )
    events = app.topic(topics.events, partitions=topics.events_partitions)
    results = app.topic(topics.results, partitions=topics.results_partitions)
    table = app.Table(
        "parked",
        partitions=topics.events_partitions,
        key_type=bytes,  # raw bytes both ways: streams.parking owns the format
        value_type=bytes,
        help="Events waiting for a dependency or a paused integration; commands to retry.",
    )
    lot = faust_lot(table)
    sensor.watch(lot)
    # The app's own librdkafka producers for every record the agents and the sweep make
    # (Faust's keeps the parked table's changelog); made in the event loop, on first use.
    producers: list[ProducerPool] = []
    known: set[str] = set()

    def producer() -> ProducerPool:
        if not producers:
            producers.append(
                ProducerPool(
                    settings.kafka.client_config(),
                    asyncio.get_running_loop(),
                    size=settings.worker.producers,
                    settled=sensor.delivered,
                )
            )
        return producers[0]

    async def send(record: Record) -> Any:
        """Queue one record on the app's librdkafka producer; its delivery's future
        (awaited by the batch before its messages are acknowledged)."""
        name, key, value = record
        # A company file's commands are one ordered queue: partition 0 of its own topic, even
        # if something created the topic with more partitions before the worker declared it.
        is_commands = name.startswith(commands_prefix)
        if name not in known:
            if is_commands:
                if name not in learned:
                    await learn_command_topics(name)
            else:
                await app.topic(name).maybe_declare()
            known.add(name)
        while True:
            try:
                return producer().send(name, key, value, 0 if is_commands else None)
            except BufferError:  # the producer's queue is full: let deliveries drain it
                await asyncio.sleep(0.01)

    commands_prefix = topics.commands("")
    learned: set[str] = set()

    async def learn_command_topics(name: str) -> None:
        """Meeting a company file's topic it does not know, the worker learns every file's
        at once: one CreateTopics for those missing. One by one (Faust's declare, then the
        client re-reading the metadata of every topic it tracks for each new one) cost
        O(files^2): 58 s for the first 1,000 files (docs/performance.md)."""
        started = time.monotonic()
        profiles = await asyncio.to_thread(pipeline.store.profiles)
        ids = {name.removeprefix(commands_prefix), *(profile.id for profile in profiles)}
        names = {topics.commands(profile_id) for profile_id in ids}
        # Provisioning a file creates its topic (`qbsync profile create`); this creates what
        # it could not (no broker then, or a profile written to the store directly), with
        # the same configs (commands never expire by default: QBSYNC_TOPIC_*).
        created = await asyncio.to_thread(
            ensure_command_topics, settings.kafka.client_config(), topics, ids
        )
        learned.update(names)
        log.info(
            "command topics learned",
            extra={
                "topics": len(names),
                "made": len(created),
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    @app.on_before_shutdown.connect
    async def close_producer(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        for made in producers:
            await asyncio.to_thread(made.close)

    batch, within = settings.worker.batch_size, settings.worker.batch_within_s

    def batch_agent(
        name: str, topic: faust.TopicT, plan_many: Callable[[list[Any]], list[Step]]
    ) -> None:
        """The one shape of the three agents: take a batch of ``topic``'s messages from
        its feed (streams._feed), carry it out (streams._delivery), then acknowledge it.
        A message is pending (tracked by Faust: a rebalance waits for it) from the moment
        it is taken until it is acknowledged, only once every record of its batch is."""
        feed = app.feed(topic.get_topic_name(), high=4 * batch)

        async def agent(stream: faust.StreamT[bytes]) -> None:
            consumer = app.consumer
            sizes = ramp(batch)
            while True:
                taken = await feed.take(next(sizes), within)
                for message in taken:
                    consumer.track_message(message)
                try:
                    await process(taken, plan_many, pipeline, lot, send, offload)
                except Halt as exc:
                    await halt(exc)
                for message in taken:
                    consumer.ack(message)

        agent.__name__ = agent.__qualname__ = name
        app.agent(topic, name=name)(agent)

    async def halt(exc: Halt) -> None:
        """Stop the worker without acknowledging the batch: its offsets are not committed,
        and the restarted worker (``qbsync run``, Kubernetes) reads it again. At once, as
        a kill -9 would (which the worker is built to survive): a graceful stop waits for
        the unacknowledged batch forever (Faust's ``wait_empty``)."""
        exit_now(
            "worker stopping: a batch could not be finished; it is read again after a restart",
            error=str(exc),
        )

    async def offload(function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(function, *args)

    batch_agent("translate", events, pipeline.translate_many)
    batch_agent("settle", results, pipeline.settle_many)
    imports = app.topic(topics.imports, partitions=topics.events_partitions)
    batch_agent("reconcile", imports, pipeline.reconcile_many)

    @app.timer(interval=settings.worker.sweep_interval_s)  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        try:
            await sweep_guarded(pipeline, lot, send, offload)
        except Halt as exc:
            await halt(exc)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        # Ready while the consumer holds partitions and reads whenever work is waiting: a
        # stuck consumer (lag, no progress for QBSYNC_WORKER_READY_STALL_S) is taken out.
        verdict = sensor.readiness(settings.worker.ready_stall_s)
        status = 200 if verdict.ready else 503
        return web.json({"ready": verdict.ready, "reason": verdict.reason}, status=status)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"alive": True})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the exposition format is UTF-8 anyway.
        kind = CONTENT_TYPE_LATEST.split("; charset")[0]
        return web.bytes(generate_latest(registry), content_type=kind)

    app.pipeline = pipeline  # type: ignore[attr-defined]
    app.parking_lot = lot  # type: ignore[attr-defined]
    return app
