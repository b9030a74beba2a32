"""core.contracts.murmur2 against Kafka's own test vectors (UtilsTest.testMurmur2, signed
32-bit there), and tenant_partition's contract."""

from __future__ import annotations

import pytest

from core.contracts import murmur2, tenant_partition

KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "signed"), KAFKA_VECTORS.items())
def test_murmur2_is_kafkas(data: bytes, signed: int) -> None:
    assert murmur2(data) == signed & 0xFFFFFFFF


def test_a_tenant_partition_is_the_positive_hash_modulo_the_count() -> None:
    # "21" hashes negative: Kafka drops the sign bit (toPositive), it does not negate.
    assert tenant_partition("21", 7) == ((-973932308) & 0x7FFFFFFF) % 7
    assert tenant_partition("abc", 1) == 0
    with pytest.raises(ValueError, match="at least one partition, not 0"):
        tenant_partition("abc", 0)
