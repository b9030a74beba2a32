"""Which partition a key lands on: Kafka's murmur2 partitioner, in pure Python.

Every qbsync producer keys by tenant id and partitions with murmur2: the Java client's
default, Faust's (aiokafka's) and librdkafka's ``murmur2_random`` (the same function for a
non-empty key). So a tenant's events, its results, its replayed dead letters and its
imports sit on the same partition *index* of their topics (which have as many partitions),
and the worker that parked a tenant's events is the one that reads the results releasing
them (docs/architecture.md, "Co-partitioning"). This function says where that is without a
broker: for the benches' balanced tenants, and for the tests that check the producers agree.
"""

from __future__ import annotations

__all__ = ["murmur2", "tenant_partition"]

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of ``data`` (``org.apache.kafka.common.utils.Utils.murmur2``),
    as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for at in range(0, whole, 4):
        k = int.from_bytes(data[at : at + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length % 4
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def tenant_partition(tenant_id: str, partitions: int) -> int:
    """The partition of a topic with ``partitions`` partitions that a record keyed by
    ``tenant_id`` (UTF-8) goes to from any qbsync producer or a murmur2 client."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(tenant_id.encode()) & 0x7FFFFFFF) % partitions
