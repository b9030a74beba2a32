"""Provisioning a company file makes its command topic (issue 20): ``qbsync profile create``
creates it on the real broker with the command topics' configs, so the topic exists long
before the file's first command; with no broker answering the profile is still created and
the worker's lazy creation is the fallback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]
from typer.testing import CliRunner

from connectors.kafka import ensure_command_topics
from connectors.store import upgrade
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli import app
from qbsync.runtime import child_env, free_port, use_broker
from tests.support.waiting import until

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Only this test's settings in the environment the CLI reads; its store migrated."""
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    upgrade(settings.database_url)
    return settings


def described(settings: Settings, topic: str) -> dict[str, str] | None:
    """The topic's configs, or None while the broker does not know it."""
    admin = AdminClient(settings.kafka.client_config())
    (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    try:
        return {name: entry.value for name, entry in future.result(30).items()}
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise
        return None


def partitions(settings: Settings, topic: str) -> int:
    metadata = AdminClient(settings.kafka.client_config()).list_topics(topic, timeout=30)
    return len(metadata.topics[topic].partitions)


def test_profile_create_makes_the_files_command_topic(
    broker: BrokerInfo, cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = cli_env
    use_broker(settings, broker)
    for key, value in child_env(settings).items():
        monkeypatch.setenv(key, value)

    done = runner.invoke(app, ["profile", "create", "--name", "Acme", "--tenant", "acme", "--json"])

    assert done.exit_code == 0, done.output
    created = json.loads(done.stdout)
    topic = settings.topics.commands(created["profile_id"])
    assert created["command_topic"] == topic
    configs = until(lambda: described(settings, topic), timeout=30, what=f"{topic} described")
    # Commands never expire by default (QBSYNC_TOPIC_COMMANDS_RETENTION_MS=-1).
    assert (configs["cleanup.policy"], configs["retention.ms"]) == ("delete", "-1")
    assert partitions(settings, topic) == 1
    # What the worker does on meeting the file finds the topic there: nothing to create.
    client = settings.kafka.client_config()
    assert ensure_command_topics(client, settings.topics, [created["profile_id"]]) == []


def test_without_a_broker_the_profile_is_made_and_the_worker_makes_the_topic_later(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = cli_env
    settings.kafka.bootstrap_servers = f"127.0.0.1:{free_port()}"  # nothing listens there
    for key, value in child_env(settings).items():
        monkeypatch.setenv(key, value)

    done = runner.invoke(app, ["profile", "create", "--name", "Acme", "--json"])

    assert done.exit_code == 0, done.output
    created = json.loads(done.stdout)
    assert created["command_topic"] == ""
    assert "the worker creates it" in done.stderr
    listed = runner.invoke(app, ["profile", "show", "Acme", "--json"])
    assert json.loads(listed.stdout)["profile_id"] == created["profile_id"]
