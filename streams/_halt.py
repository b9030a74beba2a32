"""The worker stopping itself at once, for a supervisor to start it afresh.

Faust's graceful stop waits for every batch an agent holds (``wait_empty``), forever when
one cannot finish, so a worker that must stop exits as a kill -9 would, which it is built
to survive: nothing unacknowledged is committed, and a new worker reads it again.
"""

from __future__ import annotations

import logging
import os
from typing import Any, NoReturn

__all__ = ["HALTED", "exit_now"]

log = logging.getLogger(__name__)

HALTED = 70  # the worker's exit code when it stopped itself (EX_SOFTWARE)


def exit_now(message: str, **extra: Any) -> NoReturn:
    """Log ``message`` (CRITICAL, with ``extra``), flush the log, exit :data:`HALTED`."""
    log.critical(message, extra=extra)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(HALTED)
