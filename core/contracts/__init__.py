"""Event contracts: the Avro schemas in ``schemas/avro``, the codec that speaks them, the
validator that says what is wrong with an event, and the publisher for upstream services.

See ``docs/events.md`` (generated from the schemas) for the events themselves.
"""

from core.contracts._catalog import (
    ENTITIES,
    EVENT_TYPES,
    EntitySpec,
    EventType,
    UnknownEventType,
    event_type,
)
from core.contracts._codec import (
    SCHEMA_REGISTRY,
    SINGLE_OBJECT,
    AvroCodec,
    DecodeError,
    EncodeError,
    codec_from_settings,
)
from core.contracts._docs import render_events_doc
from core.contracts._errors import ContractError
from core.contracts._events import customer_event, new_event
from core.contracts._evolution import check_compatibility
from core.contracts._partitions import murmur2, tenant_partition
from core.contracts._publisher import (
    Delivery,
    EventPublisher,
    PreparedEvent,
    PublishFailed,
    prepare_event,
)
from core.contracts._registry import (
    REGISTRY_URL_ENV,
    RegistryClient,
    RegistryUnavailable,
    registry_from_url,
)
from core.contracts._samples import sample, variants_for
from core.contracts._schemas import SchemaNotFound, SchemaSet, load_released, load_schemas
from core.contracts._validate import (
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
    "murmur2",
    "new_event",
    "parse_json",
    "prepare_event",
    "registry_from_url",
    "render_events_doc",
    "sample",
    "tenant_partition",
    "to_json",
    "validate_event",
    "variants_for",
]
