"""Logging: one line per event to stderr, as ``key=value`` text or as one JSON object
(``QBSYNC_LOG_FORMAT=text|json``). Timestamps are UTC with their offset in both formats
(``2026-12-02T06:50:44.123+00:00``). Never payloads or secrets: callers log ids, counts and
codes only, as ``extra`` fields, which both formats carry under the same names.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = ["LOG_FORMATS", "QUIETED_LOGGERS", "LogFormat", "configure_logging", "formatter"]

LogFormat = Literal["text", "json"]
LOG_FORMATS: Final = ("text", "json")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

# Libraries that narrate routine steps at INFO on every command (alembic's "Context impl",
# "Will assume transactional DDL", "setup plugin"; Faust and aiokafka at every rebalance step):
# they speak at WARNING and above only.
QUIETED_LOGGERS: Final = (
    "alembic",
    "aiokafka",
    "faust",
    "mode",
    "kafka",
    "urllib3",
    "httpx",
    "waitress",
    "spyne",
)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class _TextFormatter(logging.Formatter):
    """``<utc time> LEVEL logger: message key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "message": ..., <extras>}``, one per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False, sort_keys=False)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``text`` or ``json``; anything else is a clear error."""
    if log_format == "json":
        return _JsonFormatter()
    if log_format == "text":
        return _TextFormatter()
    raise ValueError(
        f"QBSYNC_LOG_FORMAT={log_format!r} is not a log format: use one of {', '.join(LOG_FORMATS)}"
    )


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Send every log line to stderr in ``log_format``; a bad level or format is a ValueError
    naming the setting."""
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(
            f"QBSYNC_LOG_LEVEL={level!r} is not a log level: use DEBUG, INFO, WARNING or ERROR"
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in QUIETED_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
