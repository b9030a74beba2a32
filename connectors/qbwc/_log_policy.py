"""What third-party libraries may log inside the gateway: never a request body.

spyne logs a document it cannot read whole (``spyne.protocol.soap.soap11.invalid``, at
ERROR), values it cannot convert with ``%r``, and exceptions whose text quotes the input;
waitress logs tracebacks. A request body can hold a Web Connector password or a customer's
records, and a 700 KB body would be one 700 KB log line.

The policy is a filter installed on every logger of those libraries (the logger a record is
created on runs it before any handler, anywhere, sees the record): the record keeps its
level, its logger name and its *format string*; the arguments, any message that is not a
format string, exception texts and tracebacks are replaced by their type names. Nothing a
client sent can reach a log line, whatever the library chooses to log.

One logger is also quieted to ERROR (:data:`QUIETED`): waitress's ``waitress.queue`` warns
"Task queue depth is N" for every request that finds all request threads busy, which a
busy gateway does on every call. At 16 sessions on 8 threads that line was 12.7% of the
time the GIL was held, all of it in waitress's loop thread, the one that reads every
request (docs/gateway-scale.md, "waitress's queue warning, once a call"): a log line
per call exactly when the gateway has no time to spare, telling what its latency already
shows.
"""

from __future__ import annotations

import logging

__all__ = ["LIBRARIES", "MAX_TEMPLATE", "QUIETED", "install_log_policy", "withhold"]

# Loggers (with their children) whose records are reduced to their format string.
LIBRARIES = ("spyne", "waitress")
MAX_TEMPLATE = 200
# Loggers of those libraries heard only at ERROR and above: a line per request when busy.
QUIETED = ("waitress.queue",)


def withhold(record: logging.LogRecord) -> bool:
    """Reduce ``record`` in place to what cannot carry input; always keep it."""
    if getattr(record, "qbsync_withheld", False):
        return True
    message = record.msg
    if isinstance(message, str) and record.args:
        text = message[:MAX_TEMPLATE]  # a format string written by the library's authors
        dropped = [type(a).__name__ for a in _args(record.args)]
        text += f" [values withheld: {', '.join(dropped)}]"
    else:
        # A bare message may be built from input (an exception, a document): type only.
        text = f"<{type(message).__name__} withheld>"
    if record.exc_info and record.exc_info[0] is not None:
        text += f" [{record.exc_info[0].__name__}]"
    record.msg = text
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    record.qbsync_withheld = True
    return True


def _args(args: object) -> list[object]:
    if isinstance(args, dict):
        return list(args.values())
    if isinstance(args, tuple):
        return list(args)
    return [args]


class _Withhold(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return withhold(record)


_FILTER = _Withhold("qbsync-withhold")


def _of(name: str, libraries: tuple[str, ...]) -> bool:
    """Whether logger ``name`` is one of ``libraries``' (the library's own or a child)."""
    return any(name == lib or name.startswith(lib + ".") for lib in libraries)


def install_log_policy(libraries: tuple[str, ...] = LIBRARIES) -> int:
    """Install the filter on every logger of ``libraries`` that exists now (call it after
    the libraries are imported: the gateway factory does), and quiet those of
    :data:`QUIETED` among them. Idempotent; returns how many loggers carry the filter."""
    names = [name for name in list(logging.Logger.manager.loggerDict) if _of(name, libraries)]
    names.extend(lib for lib in libraries if lib not in names)
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for name in QUIETED:
        if _of(name, libraries):
            logging.getLogger(name).setLevel(logging.ERROR)
    return len(names)
