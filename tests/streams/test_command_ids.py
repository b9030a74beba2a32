"""Command ids made a batch at a time: valid, distinct random UUIDs (version 4, RFC 4122)."""

from __future__ import annotations

import uuid

from streams._pipeline import command_ids


def test_command_ids_are_distinct_version_4_uuids_in_canonical_text() -> None:
    ids = command_ids(5000)
    assert len(ids) == 5000
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    # Every variant nibble (8, 9, a, b) and hex digit shows up: the bits are random.
    assert {text[19] for text in ids} == set("89ab")
    assert set("".join(ids).replace("-", "")) == set("0123456789abcdef")
    assert command_ids(0) == []
