"""Event contracts: the Avro schemas in ``schemas/avro``, the codec that speaks them, the
validator that says what is wrong with an event, and the publisher for upstream services.

See ``docs/events.md`` (generated from the schemas) for the events themselves.
"""

from qbsync.contracts._catalog import (
    ENTITIES,
    EVENT_TYPES,
    EntitySpec,
    EventType,
    UnknownEventType,
    event_type,
)
from qbsync.contracts._codec import (
    SCHEMA_REGISTRY,
    SINGLE_OBJECT,
    AvroCodec,
    DecodeError,
    EncodeError,
    codec_from_settings,
)
from qbsync.contracts._docs import render_events_doc
from qbsync.contracts._errors import ContractError
from qbsync.contracts._events import customer_event, new_event
from qbsync.contracts._evolution import check_compatibility
from qbsync.contracts._publisher import (
    Delivery,
    EventPublisher,
    PreparedEvent,
    PublishFailed,
    prepare_event,
)
from qbsync.contracts._registry import (
    REGISTRY_URL_ENV,
    RegistryClient,
    RegistryUnavailable,
    registry_from_url,
)
from qbsync.contracts._samples import sample, variants_for
from qbsync.contracts._schemas import SchemaNotFound, SchemaSet, load_released, load_schemas
from qbsync.contracts._validate import (
    InvalidEvent,
    Problem,
    from_json,
    parse_json,
    to_json,
    validate_event,
)

__all__ = [
    "ENTITIES",
    "EVENT_TYPES",
    "REGISTRY_URL_ENV",
    "SCHEMA_REGISTRY",
    "SINGLE_OBJECT",
    "AvroCodec",
    "ContractError",
    "DecodeError",
    "Delivery",
    "EncodeError",
    "EntitySpec",
    "EventPublisher",
    "EventType",
    "InvalidEvent",
    "PreparedEvent",
    "Problem",
    "PublishFailed",
    "RegistryClient",
    "RegistryUnavailable",
    "SchemaNotFound",
    "SchemaSet",
    "UnknownEventType",
    "check_compatibility",
    "codec_from_settings",
    "customer_event",
    "event_type",
    "from_json",
    "load_released",
    "load_schemas",
    "new_event",
    "parse_json",
    "prepare_event",
    "registry_from_url",
    "render_events_doc",
    "sample",
    "to_json",
    "validate_event",
    "variants_for",
]
