"""What every ``qbsync`` command shares: plain help (flags shown as flags, paragraphs
re-wrapped), one exit-code convention, and errors as one or two lines that name the cause
and the fix, with a traceback only under ``--debug``.

Exit codes: 0 the work was done; 1 the work was tried and failed; 2 usage or configuration
(a bad flag, an unknown name, a missing setting, an unreachable broker). See docs/cli.md.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from typer.core import TyperGroup

from core import settings as settings_module
from core.errors import EXIT_FAILED, EXIT_USAGE, QbsyncError

__all__ = [
    "DEBUG_KEY",
    "QbsyncGroup",
    "command_group",
    "emit_json",
    "say",
    "settings_problem",
]

DEBUG_KEY = "qbsync.debug"
_INTERRUPTED = 130
# Enough of an unexpected error's message to recognise it; never a whole payload.
_MESSAGE_LIMIT = 300


def say(text: str) -> None:
    """One line for a person, on stderr, as plain text (values may be user data)."""
    sys.stderr.write(text + "\n")


def emit_json(value: Any) -> None:
    """One JSON document for a script, on stdout."""
    sys.stdout.write(json.dumps(value, sort_keys=True, default=str) + "\n")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 3] + "..."


def settings_problem(exc: ValidationError) -> str:
    """A settings error as the environment variable to fix, what is wrong, and the value."""
    model = getattr(settings_module, exc.title, None)
    config = getattr(model, "model_config", None) or {}
    prefix = str(config.get("env_prefix", "QBSYNC_"))
    problems = []
    for error in exc.errors():
        name = (prefix + "_".join(str(part) for part in error["loc"])).upper()
        problems.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
    return "setting " + "; ".join(problems)


class QbsyncGroup(TyperGroup):
    """The root group: turns what a command raises into a message and an exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's (vendored) click Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except QbsyncError as exc:
            if ctx.meta.get(DEBUG_KEY):
                raise
            say(f"error: {exc}")
            ctx.exit(exc.exit_code)
        except ValidationError as exc:
            if ctx.meta.get(DEBUG_KEY):
                raise
            say(f"error: {settings_problem(exc)}")
            ctx.exit(EXIT_USAGE)
        except OperationalError as exc:
            if ctx.meta.get(DEBUG_KEY):
                raise
            say(
                f"error: the database did not answer ({_first_line(str(exc.orig or exc))});"
                " check QBSYNC_DATABASE_URL"
            )
            ctx.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            say("interrupted")
            ctx.exit(_INTERRUPTED)
        except Exception as exc:
            if ctx.meta.get(DEBUG_KEY):
                raise
            say(f"error: {type(exc).__name__}: {_first_line(str(exc))}")
            say("  this is unexpected: run the command again with --debug for the traceback")
            ctx.exit(EXIT_FAILED)


def command_group(help_text: str, **options: Any) -> typer.Typer:
    """A command group with qbsync's help style (plain click help: flags as flags)."""
    return typer.Typer(no_args_is_help=True, help=help_text, rich_markup_mode=None, **options)
