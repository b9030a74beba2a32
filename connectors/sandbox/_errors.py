"""The sandbox's exceptions: one base, so callers can catch everything the sandbox raises on
purpose without also catching programming errors."""

from __future__ import annotations

from core.errors import QbsyncError

__all__ = ["FaultSpecError", "QuickBooksCrashed", "SandboxError"]


class SandboxError(QbsyncError):
    """Base of every error the sandbox raises on purpose."""


class FaultSpecError(SandboxError):
    """A fault spec could not be read; the message names the bad field and what it expected."""


class QuickBooksCrashed(SandboxError):
    """The injected crash: QuickBooks applied the batch, then died before answering.

    Raised by :meth:`CompanyFile.process` *after* the changes are committed, so a gateway that
    re-sends the batch must cope with work that is already done (that is what it proves).
    """
