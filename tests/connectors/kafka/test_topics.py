"""Topics on the real broker get the configs qbsync depends on (issue 13, item 7): created
with them, and an existing topic that drifted is set back at start, each change reported."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from connectors.kafka import TopicSpec, ensure_command_topics, ensure_topics
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, reconcile_command_topics, use_broker
from tests.support.waiting import until

pytestmark = pytest.mark.integration

WEEK_MS = str(7 * 24 * 3600 * 1000)
NINETY_DAYS_MS = str(90 * 24 * 3600 * 1000)


def configs(settings: Settings, topic: str) -> Mapping[str, str]:
    """The topic's configs, once the broker knows the topic (creation propagates through
    its metadata log, so a describe just after a create may not find it yet)."""
    admin = AdminClient(settings.kafka.client_config())

    def described() -> dict[str, str] | None:
        resource = ConfigResource(ResourceType.TOPIC, topic)
        (future,) = admin.describe_configs([resource]).values()
        try:
            return {name: entry.value for name, entry in future.result(30).items()}
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            return None

    return until(described, timeout=30, what=f"{topic} described")


def set_config(settings: Settings, topic: str, name: str, value: str) -> None:
    admin = AdminClient(settings.kafka.client_config())
    entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)
    # The broker applies a change through its metadata log: described a moment later.
    until(lambda: configs(settings, topic)[name] == value, timeout=30, what=f"{name}={value}")


@pytest.fixture
def topics(broker: BrokerInfo, settings: Settings) -> Settings:
    use_broker(settings, broker)
    settings.topics.min_insync_replicas = 1  # explicit, and possible on one broker
    return settings


def test_every_topic_is_created_with_its_retention_and_cleanup_policy(topics: Settings) -> None:
    assert prepare_topics(topics) == []  # nothing existed, so nothing drifted
    names = topics.topics
    expected = {
        names.events: WEEK_MS,
        names.results: WEEK_MS,
        names.status: WEEK_MS,
        names.imports: WEEK_MS,
        names.changes: WEEK_MS,
        names.dead_letters: NINETY_DAYS_MS,
    }
    for topic, retention in expected.items():
        found = configs(topics, topic)
        assert (found["cleanup.policy"], found["retention.ms"]) == ("delete", retention), topic
        assert found["min.insync.replicas"] == "1", topic
    changelog = configs(topics, names.changelog(topics.worker.app_id))
    assert changelog["cleanup.policy"] == "compact"


def test_a_command_topic_never_expires_by_default(topics: Settings) -> None:
    name = topics.topics.commands("file-1")
    spec = TopicSpec(1, topics.topics.replication_factor, topics.topics.command_config())
    ensure_topics(topics.kafka.client_config(), {name: spec})
    found = configs(topics, name)
    assert (found["cleanup.policy"], found["retention.ms"]) == ("delete", "-1")


def test_drifted_topics_are_set_back_at_start_and_reported(topics: Settings) -> None:
    prepare_topics(topics)
    # A command topic created by an older qbsync, with the broker's 7-day default, and an
    # events topic someone shortened by hand.
    old_commands = topics.topics.commands("file-old")
    ensure_topics(topics.kafka.client_config(), {old_commands: 1})
    set_config(topics, old_commands, "retention.ms", WEEK_MS)
    set_config(topics, topics.topics.events, "retention.ms", "3600000")

    changes = prepare_topics(topics)

    found = {(c.topic, c.name): (c.before, c.after) for c in changes}
    assert found[(old_commands, "retention.ms")] == (WEEK_MS, "-1")
    assert found[(topics.topics.events, "retention.ms")] == ("3600000", WEEK_MS)
    until(
        lambda: configs(topics, old_commands)["retention.ms"] == "-1",
        timeout=30,
        what="the command topic's retention set back",
    )
    assert configs(topics, old_commands)["min.insync.replicas"] == "1"
    until(
        lambda: configs(topics, topics.topics.events)["retention.ms"] == WEEK_MS,
        timeout=30,
        what="the events topic's retention set back",
    )
    assert prepare_topics(topics) == []  # reconciled: a second start changes nothing


def test_command_topics_are_made_once_for_many_files_with_their_configs(
    topics: Settings,
) -> None:
    client = topics.kafka.client_config()
    files = ["file-a", "file-b", "file-c"]

    made = ensure_command_topics(client, topics.topics, files)

    names = [topics.topics.commands(file) for file in files]
    assert sorted(made) == sorted(names)
    for name in names:
        found = configs(topics, name)
        assert (found["cleanup.policy"], found["retention.ms"]) == ("delete", "-1")
    # Again, with one more file: only that one is made, the others are kept.
    assert ensure_command_topics(client, topics.topics, [*files, "file-d"]) == [
        topics.topics.commands("file-d")
    ]


def test_the_worker_can_leave_the_command_topics_configs_to_later(topics: Settings) -> None:
    prepare_topics(topics)
    drifted = topics.topics.commands("file-drifted")
    ensure_topics(topics.kafka.client_config(), {drifted: 1})
    set_config(topics, drifted, "retention.ms", WEEK_MS)

    assert prepare_topics(topics, command_topics=False) == []  # the shared ones only

    changes = reconcile_command_topics(topics)
    assert [(c.topic, c.name, c.before, c.after) for c in changes] == [
        (drifted, "retention.ms", WEEK_MS, "-1")
    ]
    until(
        lambda: configs(topics, drifted)["retention.ms"] == "-1",
        timeout=30,
        what="the command topic's retention set back",
    )
