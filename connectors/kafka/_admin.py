from __future__ import annotations

import logging
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

__all__ = ["ensure_topics"]

log = logging.getLogger(__name__)


def ensure_topics(
    client_config: Mapping[str, str], topics: Mapping[str, int], *, timeout: float = 30.0
) -> None:
    """Create the topics (name -> partitions) that do not exist yet; existing ones are kept."""
    admin = AdminClient(dict(client_config))
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [
        NewTopic(name, num_partitions=partitions, replication_factor=-1)
        for name, partitions in topics.items()
        if name not in existing
    ]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        log.info("topic created", extra={"topic": name})
