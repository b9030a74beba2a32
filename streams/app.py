"""The Faust app, built from settings by :func:`create_app` (never at import time).

Agents stay thin: decode -> look up context (store) -> a pure function -> produce.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from connectors.qbxml import explain
from connectors.store import Mapping, Store, SyncLogEntry
from qbsync.contracts import AvroCodec, DecodeError, codec_from_settings
from qbsync.settings import Settings
from streams.sensor import PipelineSensor
from streams.translate import Context, Held, Paused, Rejection, Skip, Waiting, plan

__all__ = ["Pipeline", "create_app"]

log = logging.getLogger(__name__)

COMMAND = "com.qbsync.pipeline.Command"
RESULT = "com.qbsync.pipeline.Result"
DEAD_LETTER = "com.qbsync.pipeline.DeadLetter"
SYNC_STATUS = "com.qbsync.events.SyncStatus"


class Pipeline:
    """The worker's steps, apart from Faust so they can be tested without a broker."""

    def __init__(self, settings: Settings, store: Store, codec: AvroCodec) -> None:
        self.settings = settings
        self.store = store
        self.codec = codec

    def context(self, envelope: dict[str, Any]) -> Context:
        tenant = self.store.tenant(envelope["tenant_id"])
        if tenant is None:
            return Context(profile_id=None, mapping=None, settings={})
        mapping = self.store.mapping(tenant.id, envelope["entity"], envelope["entity_id"])
        return Context(
            profile_id=tenant.profile_id,
            mapping=mapping,
            settings=tenant.settings,
            # An invoice's customer, a payment's invoices ...: what QuickBooks calls them.
            resolve=partial(self.store.mapping, tenant.id),
        )

    def dead_letter(
        self,
        message: Any,
        code: str,
        reason: str,
        *,
        tenant_id: str | None = None,
        profile_id: str | None = None,
    ) -> tuple[str, bytes | None, bytes]:
        """``message``, byte for byte, on the dead-letter topic with why it is there."""
        log.info(
            "dead-lettered",
            extra={"code": code, "topic": message.topic, "offset": message.offset},
        )
        record = {
            "dead_letter_id": str(uuid.uuid4()),
            "source_topic": message.topic,
            "source_partition": message.partition,
            "source_offset": message.offset,
            "tenant_id": tenant_id,
            "profile_id": profile_id,
            "code": code,
            "reason": reason,
            "original_key": message.key,
            "original_value": message.value,
            "failed_at": datetime.now(UTC),
        }
        return (
            self.settings.topics.dead_letters,
            message.key,
            self.codec.encode(DEAD_LETTER, record),
        )

    def translate(self, message: Any) -> tuple[str, bytes | None, bytes] | None:
        """One event message -> ``(topic, key, value)``: a command or a dead letter; None
        when a setting or the record's state says it is not to be sent (a draft invoice)."""
        try:
            _, event = self.codec.decode(message.value or b"")
            envelope = event["envelope"]
        except (DecodeError, KeyError, TypeError) as exc:
            return self.dead_letter(
                message, "undecodable", f"The event could not be decoded: {exc}"
            )
        tenant_id = envelope["tenant_id"]
        try:
            context = self.context(envelope)
            outcome = plan(event, context, command_id=str(uuid.uuid4()), now=datetime.now(UTC))
        except Exception as exc:  # one message must never stop the worker
            log.exception("event failed", extra={"offset": message.offset})
            return self.dead_letter(
                message, "internal-error", f"qbsync failed on this event: {type(exc).__name__}"
            )
        if isinstance(outcome, dict):
            return (
                self.settings.topics.commands(outcome["profile_id"]),
                tenant_id.encode(),
                self.codec.encode(COMMAND, outcome),
            )
        if isinstance(outcome, Skip):
            log.info("event skipped", extra={"code": outcome.code, "offset": message.offset})
            return None
        if isinstance(outcome, Rejection):
            return self.dead_letter(message, outcome.code, outcome.reason, tenant_id=tenant_id)
        # Waiting for a dependency, paused, or held for a missing class: until parking in a
        # table lands (issue 7, item 4) these go to the dead-letter topic with their reason,
        # from where `qbsync dlq replay` puts them back once the cause is gone.
        code = {Waiting: "waiting", Paused: "paused", Held: "held"}[type(outcome)]
        return self.dead_letter(message, code, outcome.reason, tenant_id=tenant_id)

    def settle(self, message: Any) -> list[tuple[str, bytes | None, bytes]]:
        """One result message: the mapping (on success), a sync log row, a status event for
        the source app, and a dead letter when QuickBooks refused the record."""
        try:
            _, result = self.codec.decode(message.value or b"", expected=RESULT)
        except DecodeError as exc:
            return [
                self.dead_letter(message, "undecodable", f"The result could not be decoded: {exc}")
            ]
        ok = result["status_severity"] != "Error" and 0 <= result["status_code"] < 1000
        catalog = explain(result["status_code"], result["status_message"])
        if ok and result["qb_id"]:
            self.store.save_mapping(
                Mapping(
                    tenant_id=result["tenant_id"],
                    entity=result["entity"],
                    external_id=result["entity_id"],
                    qb_id=result["qb_id"],
                    edit_sequence=result["edit_sequence"],
                    full_name=result["full_name"],
                )
            )
        self.store.log_sync(
            SyncLogEntry(
                at=result["processed_at"],
                tenant_id=result["tenant_id"],
                profile_id=result["profile_id"],
                entity=result["entity"],
                entity_id=result["entity_id"],
                command_id=str(result["command_id"]),
                action=result["action"],
                status="synced" if ok else "failed",
                code=result["status_code"],
                message=result["status_message"],
                qb_id=result["qb_id"],
            )
        )
        status = {
            "tenant_id": result["tenant_id"],
            "entity": result["entity"],
            "entity_id": result["entity_id"],
            "command_id": result["command_id"],
            "status": "SYNCED" if ok else "FAILED",
            "code": result["status_code"],
            "explanation": result["status_message"] if ok else catalog.explanation,
            "remedy": "" if ok else catalog.remedy,
            "qb_id": result["qb_id"],
            "ref_number": result.get("ref_number"),
            "full_name": result["full_name"],
            "at": result["processed_at"],
        }
        out = [
            (
                self.settings.topics.status,
                result["tenant_id"].encode(),
                self.codec.encode(SYNC_STATUS, status),
            )
        ]
        if not ok:
            out.append(
                self.dead_letter(
                    message,
                    str(result["status_code"]),
                    f"QuickBooks refused {result['entity']} {result['entity_id']!r}:"
                    f" {result['status_message']} ({catalog.title}: {catalog.explanation}"
                    f" {catalog.remedy})",
                    tenant_id=result["tenant_id"],
                    profile_id=result["profile_id"],
                )
            )
        return out


def create_app(settings: Settings, *, store: Store | None = None) -> faust.App:
    """Build the worker's Faust app. ``store`` defaults to the configured database."""
    if not settings.kafka.bootstrap_servers:
        raise ValueError("QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: no broker to connect to")
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka.bootstrap_servers.split(",")]
    app = faust.App(
        settings.worker.app_id,
        broker=brokers,
        store="memory://",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=settings.worker.web_port > 0,
        web_port=settings.worker.web_port or 6066,
        web_host="127.0.0.1",
        topic_replication_factor=1,
        topic_allow_declare=True,
        autodiscover=False,
        producer_acks=-1,
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.worker.session_timeout_s / 3),
    )
    pipeline = Pipeline(
        settings, store or Store(settings.database_url), codec_from_settings(settings)
    )
    registry = CollectorRegistry()
    app.sensors.add(PipelineSensor(settings.topics, registry))
    events = app.topic(settings.topics.events, partitions=settings.topics.events_partitions)
    results = app.topic(settings.topics.results, partitions=settings.topics.results_partitions)
    declared: dict[str, faust.TopicT] = {}

    async def send(record: tuple[str, bytes | None, bytes]) -> None:
        name, key, value = record
        # A company file's commands are one ordered queue: partition 0 of its own topic, even
        # if something created the topic with more partitions before the worker declared it.
        is_commands = name.startswith(settings.topics.commands(""))
        topic = declared.get(name)
        if topic is None:
            topic = app.topic(name, partitions=1 if is_commands else None)
            await topic.maybe_declare()
            declared[name] = topic
        await topic.send(key=key, value=value, partition=0 if is_commands else None)

    @app.agent(events)
    async def translate(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            record = await asyncio.to_thread(pipeline.translate, event.message)
            if record is not None:
                await send(record)

    @app.agent(results)
    async def settle(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            for record in await asyncio.to_thread(pipeline.settle, event.message):
                await send(record)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    app.pipeline = pipeline  # type: ignore[attr-defined]
    return app
