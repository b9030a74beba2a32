from core.errors import QbsyncError

__all__ = ["FieldError", "QbxmlError", "UnsafeXml"]


class QbxmlError(QbsyncError):
    """Base of the qbXML layer's errors."""


class FieldError(QbxmlError):
    """A value QuickBooks would refuse; the message names the element and the value."""


class UnsafeXml(QbxmlError):
    """XML we refuse to read: a DTD, an entity declaration, or not well-formed."""
