"""Topics with the configuration qbsync depends on: created with it, and reconciled when an
existing topic drifted (incrementalAlterConfigs), each change logged."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from core.settings import TopicSettings

__all__ = [
    "ConfigChange",
    "TopicSpec",
    "command_topic_spec",
    "ensure_command_topics",
    "ensure_topics",
    "reconcile_topics",
]

log = logging.getLogger(__name__)

DESCRIBE_CHUNK = 500  # topics per DescribeConfigs request


@dataclass(frozen=True)
class TopicSpec:
    """How a topic is created: partitions, replication factor (-1: the broker's
    ``default.replication.factor``) and topic configs (``retention.ms`` ...)."""

    partitions: int
    replication_factor: int = -1
    config: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ConfigChange:
    """One topic config set back to what qbsync wants (``before`` None: it was unset)."""

    topic: str
    name: str
    before: str | None
    after: str


def _spec(value: int | TopicSpec) -> TopicSpec:
    return value if isinstance(value, TopicSpec) else TopicSpec(partitions=value)


def ensure_topics(
    client_config: Mapping[str, str],
    topics: Mapping[str, int | TopicSpec],
    *,
    timeout: float = 30.0,
) -> list[str]:
    """Create the topics (name -> partitions, or a :class:`TopicSpec`) that do not exist yet;
    existing ones are kept (:func:`reconcile_topics` corrects their configs). Returns the
    names this call created."""
    admin = AdminClient(dict(client_config))
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = []
    for name, value in topics.items():
        if name in existing:
            continue
        spec = _spec(value)
        missing.append(
            NewTopic(
                name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config=dict(spec.config or {}),
            )
        )
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            continue  # someone else created it a moment ago
        created.append(name)
        log.info("topic created", extra={"topic": name})
    return created


def command_topic_spec(topics: TopicSettings) -> TopicSpec:
    """How a company file's command topic is made: one partition (its commands are one
    ordered queue), with the replication factor and configs of ``QBSYNC_TOPIC_*``."""
    return TopicSpec(1, topics.replication_factor, topics.command_config())


def ensure_command_topics(
    client_config: Mapping[str, str],
    topics: TopicSettings,
    profile_ids: Iterable[str],
    *,
    timeout: float = 30.0,
) -> list[str]:
    """Create the command topics of these company files (profiles) that do not exist yet,
    in one CreateTopics request; returns the names created. Provisioning a file calls it
    (the topic then exists, settled by the broker, long before its first command); the
    worker calls it for every file when it meets a topic it does not know (the fallback)."""
    spec = command_topic_spec(topics)
    names = sorted({topics.commands(profile_id) for profile_id in profile_ids})
    return ensure_topics(client_config, dict.fromkeys(names, spec), timeout=timeout)


def reconcile_topics(
    client_config: Mapping[str, str],
    wanted: Mapping[str, Mapping[str, str]],
    *,
    timeout: float = 30.0,
) -> list[ConfigChange]:
    """Set every config of ``wanted`` (topic -> {name: value}) that an existing topic holds
    with another value; topics that do not exist are left alone. Returns what changed."""
    if not wanted:
        return []
    admin = AdminClient(dict(client_config))
    existing = set(admin.list_topics(timeout=timeout).topics)
    names = [name for name in wanted if name in existing]
    if not names:
        return []
    changes: list[ConfigChange] = []
    fixes: list[ConfigResource] = []
    for start in range(0, len(names), DESCRIBE_CHUNK):
        # One request per chunk, each with its own timeout: one request for thousands of
        # command topics outlasted 30 s on a loaded broker.
        described = admin.describe_configs(
            [
                ConfigResource(ResourceType.TOPIC, name)
                for name in names[start : start + DESCRIBE_CHUNK]
            ],
            request_timeout=timeout,
        )
        for resource, future in described.items():
            try:
                current: Mapping[str, ConfigEntry] = future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                continue  # created a moment ago (with its configs), not known to every broker yet
            topic_changes = [
                ConfigChange(
                    resource.name,
                    key,
                    None if current.get(key) is None else current[key].value,
                    value,
                )
                for key, value in wanted[resource.name].items()
                if current.get(key) is None or current[key].value != value
            ]
            if topic_changes:
                changes += topic_changes
                fixes.append(
                    ConfigResource(
                        ResourceType.TOPIC,
                        resource.name,
                        incremental_configs=[
                            ConfigEntry(
                                change.name,
                                change.after,
                                incremental_operation=AlterConfigOpType.SET,
                            )
                            for change in topic_changes
                        ],
                    )
                )
    if fixes:
        for future in admin.incremental_alter_configs(fixes, request_timeout=timeout).values():
            future.result(timeout)
    for change in changes:
        log.warning(
            "topic config reconciled",
            extra={
                "topic": change.topic,
                "config": change.name,
                "before": change.before,
                "after": change.after,
            },
        )
    return changes
