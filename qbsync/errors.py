"""The exception base of the qbsync shell (settings, CLI, orchestration)."""

__all__ = ["ConfigurationError", "QbsyncError"]


class QbsyncError(Exception):
    """Base of every error qbsync raises on purpose."""


class ConfigurationError(QbsyncError):
    """A setting is missing or wrong; the message names it."""
