"""OAuth tokens encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``)
with the key(s) from ``QBSYNC_QBO_TOKEN_KEYS``. Several keys, comma-separated, allow rotation:
the first encrypts, any of them decrypts."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from core.errors import QbsyncError

__all__ = ["TokenCipher", "UndecryptableToken"]


class UndecryptableToken(QbsyncError):
    """A stored token no configured key opens (the key was changed without keeping the old
    one in ``QBSYNC_QBO_TOKEN_KEYS``)."""


class TokenCipher:
    def __init__(self, keys: SecretStr) -> None:
        names = [k.strip() for k in keys.get_secret_value().split(",") if k.strip()]
        if not names:
            raise ValueError(
                "QBSYNC_QBO_TOKEN_KEYS is empty: set it to a Fernet key (python -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in names])
        except ValueError as exc:
            raise ValueError(
                "QBSYNC_QBO_TOKEN_KEYS must be Fernet keys (32 url-safe base64-encoded bytes), "
                "comma-separated"
            ) from exc

    def encrypt(self, secret: SecretStr) -> str:
        return self._fernet.encrypt(secret.get_secret_value().encode()).decode()

    def decrypt(self, stored: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(stored.encode()).decode())
        except InvalidToken as exc:
            raise UndecryptableToken(
                "a stored QBO token cannot be decrypted with QBSYNC_QBO_TOKEN_KEYS: keep the "
                "old key in the list (after the new one) until every company refreshed"
            ) from exc
