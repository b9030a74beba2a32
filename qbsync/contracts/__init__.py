"""Event contracts: the Avro schemas in ``schemas/avro`` and the codec that speaks them."""

from qbsync.contracts._codec import AvroCodec, DecodeError, EncodeError
from qbsync.contracts._events import customer_event
from qbsync.contracts._schemas import SchemaNotFound, SchemaSet, load_schemas

__all__ = [
    "AvroCodec",
    "DecodeError",
    "EncodeError",
    "SchemaNotFound",
    "SchemaSet",
    "customer_event",
    "load_schemas",
]
