"""The exception base of the qbsync shell (settings, CLI, orchestration).

Exit codes (docs/cli.md): 0 the work was done; 1 the work was tried and failed (a record not
acknowledged, a check that found problems); 2 usage or configuration (a bad flag, an unknown
name, a missing setting, an unreachable broker). Every error carries the code it exits with.
"""

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ConfigurationError",
    "QbsyncError",
    "WorkFailed",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class QbsyncError(Exception):
    """Base of every error qbsync raises on purpose: by default a usage or configuration
    mistake the message explains (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigurationError(QbsyncError):
    """A setting is missing or wrong; the message names it."""


class WorkFailed(QbsyncError):
    """The command was right but the work did not succeed (exit 1)."""

    exit_code = EXIT_FAILED
