"""What the console's pages share: the app, the settings, the store and the request
helpers that :func:`qbsync.console._app.create_console` builds once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, abort

from connectors.store import ConsoleStore, SessionLog, Store
from core.settings import Settings
from qbsync.console._data import KafkaReader

__all__ = ["SETUP_COOKIE", "Context", "F", "parse_day"]

SETUP_COOKIE = "qbsync_setup"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Context:
    app: Flask
    settings: Settings
    store: Store
    console: ConsoleStore
    history: SessionLog
    reader: KafkaReader
    # staff(role) decorates a view: signed-in staff with at least that role.
    staff: Callable[..., Callable[[Any], Any]]
    # audit(action, target, **detail): a change made through the console.
    audit: Callable[..., None]
    set_cookie: Callable[..., None]


def parse_day(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        abort(400, f"{field}: {text!r} is not a date (use YYYY-MM-DD)")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
