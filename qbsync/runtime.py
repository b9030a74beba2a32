"""What ``run``, ``demo`` and the tests share to bring the pipeline up."""

from __future__ import annotations

from qbsync.settings import Settings

__all__ = ["child_env", "prepare_topics"]


def child_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process see the same settings as this one."""
    env = {
        "QBSYNC_DATA_DIR": str(settings.data_dir),
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "QBSYNC_DATABASE_URL": settings.database_url,
        "QBSYNC_TOPIC_PREFIX": settings.topics.prefix,
        "QBSYNC_GATEWAY_HOST": settings.gateway.host,
        "QBSYNC_GATEWAY_PORT": str(settings.gateway.port),
        "QBSYNC_GATEWAY_BATCH_SIZE": str(settings.gateway.batch_size),
        "QBSYNC_WORKER_WEB_PORT": str(settings.worker.web_port),
        "QBSYNC_WORKER_APP_ID": settings.worker.app_id,
    }
    return env


def prepare_topics(settings: Settings) -> None:
    """Create the shared topics; per-file command topics are created on first use."""
    from connectors.kafka import ensure_topics

    ensure_topics(
        settings.kafka.client_config(),
        {
            settings.topics.events: settings.topics.events_partitions,
            settings.topics.results: settings.topics.results_partitions,
            settings.topics.dead_letters: 1,
        },
    )
