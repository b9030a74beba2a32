"""Import paging within a session: which page to ask for next, and taking an answered page.

The rules are :mod:`connectors.qbwc._imports` (pure); this runner reads watermarks, saves
pages, publishes what was read on ``imports`` (acknowledged before the watermark can move)
and completes an entity once every page was processed. The state it returns is kept on the
session row by the gateway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from connectors.kafka import CompanyDrain
from connectors.qbwc._import_schedule import ImportSchedule
from connectors.qbwc._imports import DELETED, ImportConfig, absorb, due, import_request, start
from connectors.qbxml import Record, UnsafeXml, parse_response
from connectors.store import ImportWatermark, Store
from core.messages import Imported

__all__ = ["ImportPages", "PageTaken"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageTaken:
    """After an answered page: the session's next import state, an error, more to read."""

    state: dict[str, Any]
    error: str | None
    more: bool


class ImportPages:
    def __init__(
        self,
        store: Store,
        drain: CompanyDrain,
        config: ImportConfig,
        topic: str,
        schedule: ImportSchedule,
    ) -> None:
        self._store = store
        self._drain = drain
        self._config = config
        self._topic = topic
        self._schedule = schedule

    @property
    def publishing(self) -> bool:
        """Whether imported records go to the worker (then our writes are recorded)."""
        return bool(self._topic and self._config.entities)

    def may_be_due(self, profile_id: str) -> bool:
        """Whether a poll should open a session for imports: from memory (an idle poll
        asks the store nothing, :mod:`connectors.qbwc._import_schedule`)."""
        return self._schedule.due(profile_id)

    def due(self, profile_id: str) -> list[str]:
        """The imports due now, from the file's watermarks read now (within a session)."""
        if not self._config.entities:
            return []
        return due(self._config, self._watermarks(profile_id), datetime.now(UTC))

    def _watermarks(self, profile_id: str) -> dict[str, ImportWatermark]:
        """The file's watermarks, read; the schedule learns from every read."""
        marks = self._store.watermarks(profile_id)
        self._schedule.learn(profile_id, marks)
        return marks

    def left(self, profile_id: str, state: dict[str, Any] | None) -> bool:
        """Whether an import is due that this session has not tried yet."""
        tried = set((state or {}).get("tried", []))
        return any(e not in tried for e in self.due(profile_id))

    def next_page(
        self, profile_id: str, state: dict[str, Any] | None
    ) -> tuple[dict[str, Any], tuple[str, str]] | None:
        """``(state, request)`` of the next page to ask for; None when no import is due
        (or every due one was tried this session)."""
        if state is None or state.get("iterator_id") is None:
            tried = set((state or {}).get("tried", []))
            marks = self._watermarks(profile_id)
            now = datetime.now(UTC)
            todo = [e for e in due(self._config, marks, now) if e not in tried]
            if not todo:
                return None
            mark = marks.get(todo[0])
            modified_from = mark.modified_from if mark else None
            full_read = mark.full_read if mark else None
            first = start(self._config, todo[0], modified_from, now, full_read=full_read)
            state = {**first, "tried": sorted(tried)}
        log.info("import page asked", extra={"entity": state["entity"], "page": state["page"]})
        return state, import_request(self._config, state)

    def take(self, profile_id: str, state: dict[str, Any], response: str) -> PageTaken:
        try:
            statuses = parse_response(response)
        except UnsafeXml:
            statuses = []
        taken = absorb(state, statuses[0] if statuses else None)
        entity = state["entity"]
        if taken.records and entity == DELETED:
            self._deleted(profile_id, statuses[0].records)
        elif taken.records:
            self._store.save_qb_records(profile_id, entity, taken.records)
            # Acknowledged by Kafka before the watermark can move: an import that dies
            # after this page asks for it again, and the worker drops what it saw already.
            # A full read for matching is for support's eyes only: the apps are not told.
            if state.get("full_read") != "match":
                self._publish(profile_id, entity, statuses[0].records)
        tried = sorted({*state.get("tried", []), entity})
        following: dict[str, Any]
        if taken.state is not None:
            following = {**taken.state, "tried": state.get("tried", [])}
            # Progress of a long import (``qbsync tenant import-status``).
            self._store.note_import_progress(
                profile_id, entity, taken.state["seen"], taken.remaining
            )
        else:
            following = {"entity": entity, "iterator_id": None, "tried": tried}
            if taken.error is None:
                # Every page processed: only now does the watermark move.
                self._store.complete_import(
                    profile_id,
                    entity,
                    taken.watermark,
                    taken.total,
                    full_read=state.get("full_read"),
                )
                log.info("import completed", extra={"entity": entity, "records": taken.total})
        more = taken.state is not None or any(e not in tried for e in self.due(profile_id))
        return PageTaken(following, taken.error, more)

    def _deleted(self, profile_id: str, records: Sequence[Record]) -> None:
        """Transactions deleted in QuickBooks (``TxnDeletedRet``): told to the worker as
        imports of their type marked ``deleted`` (acknowledged before the watermark moves),
        then no longer offered for matching."""
        gone: dict[str, list[str]] = {}
        told: list[Imported] = []
        now = datetime.now(UTC)
        for record in records:
            kind = record.fields.get("TxnDelType")
            if not isinstance(kind, str) or not record.qb_id:
                continue
            entities = self._config.imported_as(kind)
            if not entities:
                continue
            for entity in entities:
                gone.setdefault(entity, []).append(record.qb_id)
            told.append(
                Imported(
                    tenant_id="",
                    profile_id=profile_id,
                    entity=entities[0],
                    qb_id=record.qb_id,
                    record_type=kind,
                    record_json="{}",
                    imported_at=now,
                    time_modified=record.time_deleted,
                    deleted=True,
                )
            )
        self._send(profile_id, told)
        for entity, qb_ids in gone.items():
            self._store.forget_qb_records(profile_id, entity, qb_ids)

    def _publish(self, profile_id: str, entity: str, records: Sequence[Record]) -> None:
        now = datetime.now(UTC)
        self._send(
            profile_id,
            [
                Imported(
                    tenant_id="",
                    profile_id=profile_id,
                    entity=entity,
                    qb_id=record.qb_id,
                    edit_sequence=record.edit_sequence,
                    time_modified=record.time_modified,
                    record_type=record.kind,
                    record_json=json.dumps(record.fields, separators=(",", ":")),
                    imported_at=now,
                )
                for record in records
                if record.qb_id
            ],
        )

    def _send(self, profile_id: str, records: Sequence[Imported]) -> None:
        """Each record to every tenant of the file (the worker tells only the one whose
        record it is), acknowledged by Kafka before this returns."""
        if not self._topic or not records:
            return
        tenants = [tenant.id for tenant in self._store.tenants(profile_id)]
        self._drain.publish(
            [
                self._drain.outgoing(replace(record, tenant_id=tenant_id), self._topic)
                for tenant_id in tenants
                for record in records
            ]
        )
