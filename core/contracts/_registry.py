"""The Confluent Schema Registry, behind the three calls the codec needs.

qbsync puts several record types on one topic, so subjects follow the *record name* strategy
(subject = the record's full name, e.g. ``com.qbsync.events.InvoiceEvent``): the registry then
checks each event type's compatibility on its own. Schemas are registered standalone (every
named type inlined), so readers never have to follow schema references.

``confluent_kafka.schema_registry`` is imported only when a registry is configured: it pulls in
an HTTP stack that the default single-object path does not need.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.contracts._errors import ContractError

__all__ = [
    "REGISTRY_URL_ENV",
    "RegistryClient",
    "RegistryRefused",
    "RegistryUnavailable",
    "SchemaUnknownToRegistry",
    "avro_schema",
    "call",
    "registry_from_url",
    "subject_for",
]

REGISTRY_URL_ENV = "QBSYNC_SCHEMA_REGISTRY_URL"


class RegistryUnavailable(ContractError):
    """The registry did not answer or refused a request; retrying later may work.

    Deliberately not a :class:`DecodeError`: a registry outage must stop a consumer, not turn
    every event into a dead letter.
    """


class RegistryRefused(RegistryUnavailable):
    """The registry answered with a client error (401, 403, 409 incompatible, 422 invalid)."""


class SchemaUnknownToRegistry(ContractError):
    """The registry has no schema with that id (or for that subject): the data is the problem."""


class RegistryClient(Protocol):
    """What the codec uses of ``confluent_kafka.schema_registry.SchemaRegistryClient``."""

    def register_schema(self, subject_name: str, schema: Any) -> int: ...

    def lookup_schema(self, subject_name: str, schema: Any) -> Any: ...

    def get_schema(self, schema_id: int) -> Any: ...


def subject_for(schema_name: str) -> str:
    """Record name strategy: one subject per record type, whatever topic it travels on."""
    return schema_name


def registry_from_url(
    url: str | None = None, config: Mapping[str, str] | None = None
) -> RegistryClient | None:
    """A registry client for ``url`` (default: ``$QBSYNC_SCHEMA_REGISTRY_URL``), or None.

    ``config`` adds client settings such as ``basic.auth.user.info``. ``mock://...`` gives
    confluent-kafka's in-memory registry (one per client), for trying things out.
    """
    chosen = (url if url is not None else os.environ.get(REGISTRY_URL_ENV, "")).strip()
    if not chosen:
        return None
    from confluent_kafka.schema_registry import SchemaRegistryClient

    conf = {"url": chosen, **(config or {})}
    factory = getattr(SchemaRegistryClient, "new_client", SchemaRegistryClient)
    client: RegistryClient = factory(conf)
    return client


@dataclass(frozen=True)
class _Schema:
    """Stands in for the client's ``Schema`` when its package is not installed."""

    schema_str: str
    schema_type: str = "AVRO"


def avro_schema(document: str) -> Any:
    """The registry client's ``Schema`` object for an Avro schema document."""
    try:
        from confluent_kafka.schema_registry import Schema
    except ImportError:  # only an injected client can be in use then
        return _Schema(document)
    return Schema(document, "AVRO")


def call(what: str, function: Any, *args: Any) -> Any:
    """Run one registry call; map its failures onto the two errors callers handle."""
    try:
        return function(*args)
    except Exception as exc:
        status = getattr(exc, "http_status_code", None)
        if status == 404:
            raise SchemaUnknownToRegistry(f"{what}: not in the schema registry") from exc
        detail = getattr(exc, "error_message", None) or type(exc).__name__
        if isinstance(status, int) and 400 <= status < 500:
            raise RegistryRefused(
                f"{what}: the schema registry refused it (HTTP {status}: {detail})"
            ) from exc
        raise RegistryUnavailable(f"{what}: the schema registry did not answer ({detail})") from exc
