from core.errors import QbsyncError

__all__ = ["ContractError"]


class ContractError(QbsyncError):
    """Base of every contracts error."""
