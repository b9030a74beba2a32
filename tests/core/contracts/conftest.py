"""Registry seams for the codec tests: confluent-kafka's own in-memory registry, and a tiny
fake of the same three calls that can also fail the ways a real registry does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest


class RegistryHTTPError(Exception):
    """Shaped like ``confluent_kafka.schema_registry.error.SchemaRegistryError``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status_code = status
        self.error_message = message


@dataclass
class Registered:
    schema_id: int
    schema_str: str
    schema_type: str = "AVRO"
    references: list[Any] = field(default_factory=list)


class FakeRegistry:
    """Subjects -> ids, ids -> schemas; ``down`` and ``refuse`` simulate failures."""

    def __init__(self) -> None:
        self.by_id: dict[int, Registered] = {}
        self.subjects: dict[str, dict[str, int]] = {}
        self.calls: list[str] = []
        self.down = False
        self.refuse: int | None = None

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if self.down:
            raise ConnectionError("connection refused")
        if self.refuse is not None:
            raise RegistryHTTPError(self.refuse, "Schema being registered is incompatible")

    def register_schema(self, subject_name: str, schema: Any) -> int:
        self._check("register")
        text = schema.schema_str
        known = self.subjects.setdefault(subject_name, {})
        if text not in known:
            schema_id = 100 + len(self.by_id)
            self.by_id[schema_id] = Registered(schema_id, text)
            known[text] = schema_id
        return known[text]

    def lookup_schema(self, subject_name: str, schema: Any) -> Registered:
        self._check("lookup")
        schema_id = self.subjects.get(subject_name, {}).get(schema.schema_str)
        if schema_id is None:
            raise RegistryHTTPError(404, "Subject not found")
        return self.by_id[schema_id]

    def get_schema(self, schema_id: int) -> Registered:
        self._check("get")
        if schema_id not in self.by_id:
            raise RegistryHTTPError(404, "Schema not found")
        return self.by_id[schema_id]

    def put(self, document: dict[str, Any]) -> int:
        """Register a schema directly (as another publisher would), return its id."""
        schema_id = 100 + len(self.by_id)
        self.by_id[schema_id] = Registered(schema_id, json.dumps(document))
        return schema_id


@pytest.fixture
def fake_registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def mock_registry() -> Any:
    """confluent-kafka's MockSchemaRegistryClient (needs confluent-kafka[schemaregistry])."""
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        pytest.skip(f"confluent-kafka's schema registry client is not installed: {exc}")
    return SchemaRegistryClient.new_client({"url": "mock://qbsync-tests"})


@pytest.fixture(params=["confluent-mock", "fake"])
def registry(request: pytest.FixtureRequest, fake_registry: FakeRegistry) -> Any:
    """Each registry seam in turn."""
    if request.param == "fake":
        return fake_registry
    return request.getfixturevalue("mock_registry")
