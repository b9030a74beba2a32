"""Typed records for QBO's v3 API: what qbsync asks (:class:`QboRequest`), what Intuit answers
(:class:`QboResponse`, its faults as :class:`QboError`), and the request a command carries
(:class:`QboEntityRequest`, the ``qbo`` field of ``com.qbsync.pipeline.Command``).

The entity bodies stay JSON objects: they are Intuit's documents (``Customer``, ``Invoice``),
passed through as they are, the way a qbXML command carries its request element as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["QboEntityRequest", "QboError", "QboOperation", "QboRequest", "QboResponse"]


class QboOperation(StrEnum):
    """What a command does to one QBO entity."""

    CREATE = "create"  # POST /<entity> without Id
    UPDATE = "update"  # POST /<entity> with Id and SyncToken, every field (full update)
    SPARSE = "sparse"  # POST /<entity> with Id, SyncToken and "sparse": true
    DELETE = "delete"  # POST /<entity>?operation=delete (transactions)
    VOID = "void"  # POST /<entity>?operation=void (transactions)
    # Synced once, never updated: GET /<entity>/<Id> first; present -> nothing written
    # (skipped), missing (deleted in QBO) -> POST without Id, a new record (bills, payments).
    ENSURE = "ensure"

    @property
    def changes_existing(self) -> bool:
        return self not in (QboOperation.CREATE, QboOperation.ENSURE)


@dataclass(frozen=True)
class QboEntityRequest:
    """One write to one entity, as the worker plans it and the sender sends it."""

    operation: QboOperation
    entity: str  # QBO's entity name: "Customer", "Invoice"
    body: Mapping[str, Any]  # the entity document; Id and SyncToken for changes
    # Rules the sender checks against the company before writing (the rule column names
    # them: ``connectors.qbo._checks.CHECKS``), e.g. "start-date", "day-limit".
    checks: tuple[str, ...] = ()
    # What the sender did to prepare the write (a per-project item made or reused), for the
    # result's message; never part of the command.
    notes: tuple[str, ...] = ()

    def to_avro(self) -> dict[str, Any]:
        return {
            "operation": self.operation.value,
            "entity": self.entity,
            "body": json.dumps(self.body, sort_keys=True, separators=(",", ":")),
            "checks": list(self.checks),
        }

    @classmethod
    def from_avro(cls, value: Mapping[str, Any]) -> QboEntityRequest:
        body = json.loads(value["body"])
        if not isinstance(body, dict):
            raise ValueError("a QBO command's body must be a JSON object")
        checks = tuple(str(c) for c in value.get("checks") or ())
        return cls(QboOperation(value["operation"]), str(value["entity"]), body, checks)

    def as_create(self) -> QboEntityRequest:
        """The same record as a new one: no Id, SyncToken or sparse flag (re-created after
        QBO lost it: 610 on an update, or an ENSURE that found nothing)."""
        body = {k: v for k, v in self.body.items() if k not in ("Id", "SyncToken", "sparse")}
        return QboEntityRequest(QboOperation.CREATE, self.entity, body, self.checks, self.notes)

    def with_sync_token(self, sync_token: str) -> QboEntityRequest:
        return QboEntityRequest(
            self.operation,
            self.entity,
            {**self.body, "SyncToken": sync_token},
            self.checks,
            self.notes,
        )


@dataclass(frozen=True)
class QboRequest:
    """One HTTP request to ``/v3/company/<realm_id>/<path>``."""

    realm_id: str
    method: Literal["GET", "POST"]
    path: str  # "customer", "customer/42", "query", "batch", "cdc"
    params: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = None
    # Writes only: Intuit answers a repeated id with the first request's result.
    request_id: str | None = None

    @property
    def is_write(self) -> bool:
        return self.method == "POST" and self.path not in ("query",)

    @property
    def is_batch(self) -> bool:
        return self.method == "POST" and self.path == "batch"

    @classmethod
    def write(cls, realm_id: str, request: QboEntityRequest, request_id: str) -> QboRequest:
        params: tuple[tuple[str, str], ...] = ()
        body: Mapping[str, Any] = request.body
        if request.operation in (QboOperation.DELETE, QboOperation.VOID):
            params = (("operation", request.operation.value),)
        elif request.operation is QboOperation.SPARSE:
            body = {**request.body, "sparse": True}
        return cls(realm_id, "POST", request.entity.lower(), params, body, request_id)

    @classmethod
    def batch(
        cls, realm_id: str, items: Sequence[tuple[str, QboEntityRequest]], request_id: str
    ) -> QboRequest:
        """``POST /batch``: one ``BatchItemRequest`` per (bId, create); creates only (the
        batch planner, ``connectors.qbo._batching``, batches nothing else)."""
        for _b_id, request in items:
            if request.operation is not QboOperation.CREATE:
                raise ValueError("only creates are sent in a batch")
        body = {
            "BatchItemRequest": [
                {"bId": b_id, "operation": "create", request.entity: dict(request.body)}
                for b_id, request in items
            ]
        }
        return cls(realm_id, "POST", "batch", (), body, request_id)

    @classmethod
    def read(cls, realm_id: str, entity: str, entity_id: str) -> QboRequest:
        return cls(realm_id, "GET", f"{entity.lower()}/{entity_id}")

    @classmethod
    def query(cls, realm_id: str, text: str) -> QboRequest:
        return cls(realm_id, "GET", "query", (("query", text),))


@dataclass(frozen=True)
class QboError:
    """One ``Fault.Error`` item."""

    code: str
    message: str
    detail: str = ""
    element: str | None = None


@dataclass(frozen=True)
class QboResponse:
    """What Intuit answered: the HTTP status, the JSON body, and the headers that matter."""

    status: int
    body: Mapping[str, Any] = field(default_factory=dict)
    retry_after_s: float | None = None
    intuit_tid: str | None = None  # Intuit's trace id: quote it to Intuit's support

    @property
    def fault_type(self) -> str | None:
        fault = self.body.get("Fault") or self.body.get("fault")
        return str(fault.get("type", "")) if isinstance(fault, Mapping) else None

    @property
    def errors(self) -> tuple[QboError, ...]:
        fault = self.body.get("Fault") or self.body.get("fault")
        if not isinstance(fault, Mapping):
            return ()
        items = fault.get("Error") or fault.get("error") or []
        return tuple(
            QboError(
                code=str(item.get("code", "")),
                message=str(item.get("Message", item.get("message", ""))),
                detail=str(item.get("Detail", item.get("detail", ""))),
                element=item.get("element"),
            )
            for item in items
            if isinstance(item, Mapping)
        )

    @property
    def ok(self) -> bool:
        return self.status < 400 and self.fault_type is None

    def entity(self, name: str) -> Mapping[str, Any] | None:
        found = self.body.get(name)
        return found if isinstance(found, Mapping) else None

    def batch_items(self) -> dict[str, QboResponse]:
        """A batch answer's items by ``bId``, each as the answer to its own request: its
        entity, or its ``Fault`` (then HTTP 400, as Intuit answers a single request)."""
        items = self.body.get("BatchItemResponse") if self.ok else None
        found: dict[str, QboResponse] = {}
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and item.get("bId") is not None:
                failed = isinstance(item.get("Fault") or item.get("fault"), Mapping)
                found[str(item["bId"])] = QboResponse(400 if failed else 200, dict(item))
        return found
