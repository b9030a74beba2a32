"""Who is asking: staff sign-in (scrypt-hashed passwords, roles), sessions in secure,
HttpOnly, SameSite cookies backed by the store, and CSRF tokens on every change."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.qbwc import hash_password, verify_password
from connectors.store import STAFF_ROLES, ConsoleStore
from qbsync.console._views import locked_out

__all__ = [
    "STAFF_ROLES",
    "Principal",
    "check_csrf",
    "create_user",
    "new_secret",
    "sign_in",
]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """A signed-in staff member, or a bookkeeper on a setup page (``kind == "setup"``)."""

    kind: str  # staff | setup
    subject: str  # user name, or the profile id of the setup page
    role: str  # viewer | operator | bookkeeper
    csrf_token: str
    since: datetime | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this person."""
        return self.subject if self.kind == "staff" else f"bookkeeper:{self.subject}"

    def may(self, role: str) -> bool:
        """Whether this principal has ``role`` (an operator may do what a viewer may)."""
        if self.kind != "staff":
            return False
        return STAFF_ROLES.index(self.role) >= STAFF_ROLES.index(role)


def create_user(store: ConsoleStore, username: str, password: str, role: str) -> None:
    """A staff user; the password is stored only as its scrypt hash."""
    if username.startswith("oidc:"):
        raise ValueError("a console user name cannot start with 'oidc:' (the identity provider's)")
    if len(password) < 12:
        raise ValueError("a console password needs at least 12 characters")
    store.add_user(username, hash_password(password), role)


def sign_in(store: ConsoleStore, username: str, password: str) -> str | None:
    """The user's role when the password matches an enabled user, else ``None``. An unknown
    name costs the same scrypt run as a known one; after a few wrong passwords in a row the
    user's sign-ins are refused unchecked for a while (:func:`locked_out`)."""
    now = datetime.now(UTC)
    user = store.user(username)
    if user is not None and locked_out(user.failed_logins, user.last_failed_login_at, now):
        return None
    ok = verify_password(password, user.password_hash if user else None)
    if user is None:
        return None
    if not ok:
        store.update_user(username, failed_logins=user.failed_logins + 1, last_failed_login_at=now)
        return None
    if not user.enabled:
        return None
    store.update_user(username, failed_logins=0, last_failed_login_at=None, last_login_at=now)
    return user.role


def check_csrf(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
