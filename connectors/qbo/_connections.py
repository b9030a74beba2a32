"""QBO companies in the store: the connect flow's state, tokens encrypted at rest, and
rotation as a compare-and-swap on ``token_version`` (one transaction each), so the newest
refresh token is never overwritten by an older one and never lost."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from connectors.qbo._crypto import TokenCipher
from connectors.qbo._oauth import OAuthClient, TokenSet
from connectors.store import Profile, QboCompanyRow, Store, Tenant
from core.errors import ConfigurationError, QbsyncError

__all__ = [
    "CONNECTED",
    "NOT_CONNECTED",
    "PENDING",
    "RECONNECT_NEEDED",
    "QboCompany",
    "QboConnections",
    "QboStatus",
    "RotationLost",
    "UnknownConnect",
    "create_company",
]

NOT_CONNECTED, PENDING, CONNECTED, RECONNECT_NEEDED = (
    "not_connected",
    "pending",
    "connected",
    "reconnect_needed",
)


class RotationLost(QbsyncError):
    """Another process rotated this company's tokens first; read them again."""


class UnknownConnect(QbsyncError):
    """A callback's ``state`` matches no connect flow under way (expired, used, or forged)."""


@dataclass(frozen=True)
class QboStatus:
    """A company's connection as the console shows it: no tokens."""

    profile_id: str
    realm_id: str | None
    status: str  # NOT_CONNECTED, PENDING, CONNECTED, RECONNECT_NEEDED
    last_error: str | None


@dataclass(frozen=True)
class QboCompany:
    profile_id: str
    realm_id: str | None
    status: str
    tokens: TokenSet | None
    token_version: int
    last_error: str | None


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Well-formed for the gateway's password check, and no password ever matches it.
_NO_LOGIN = "none$0$0$0$$"


def create_company(store: Store, *, name: str, tenants: list[str]) -> str:
    """A profile for a QBO company and its tenants; connect it with :meth:`begin_connect`.
    It has no Web Connector login: disabled, with a hash no password matches."""
    now = datetime.now(UTC)
    profile_id = uuid.uuid4().hex
    store.add_profile(
        Profile(
            id=profile_id,
            name=name,
            username=f"qbo-{profile_id[:12]}",
            password_hash=_NO_LOGIN,
            owner_id=f"{{{uuid.uuid4()}}}",
            file_id=f"{{{uuid.uuid4()}}}",
            enabled=False,  # for the Web Connector gateway: no login at all
            created_at=now,
        )
    )
    for tenant_id in tenants:
        store.add_tenant(
            Tenant(id=tenant_id, name=tenant_id, profile_id=profile_id, settings={}, created_at=now)
        )
    # From now on the worker plans this company's events as QBO commands; they wait on its
    # topic until it is connected.
    with sessionmaker(store.engine).begin() as session:
        session.add(
            QboCompanyRow(
                profile_id=profile_id, status=NOT_CONNECTED, token_version=0, updated_at=now
            )
        )
    return profile_id


class QboConnections:
    def __init__(self, engine: Engine, cipher: TokenCipher | None) -> None:
        """``cipher`` None: no tokens are read or written (the console starts a connect
        flow and shows a company's status; only the sender holds the token keys)."""
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._cipher_or_none = cipher

    @property
    def _cipher(self) -> TokenCipher:
        if self._cipher_or_none is None:
            raise ConfigurationError("QBSYNC_QBO_TOKEN_KEYS is needed to read or store tokens")
        return self._cipher_or_none

    def _company(self, row: QboCompanyRow) -> QboCompany:
        tokens = None
        if row.access_token and row.refresh_token:
            tokens = TokenSet(
                access_token=self._cipher.decrypt(row.access_token),
                refresh_token=self._cipher.decrypt(row.refresh_token),
                access_expires_at=_aware(row.access_expires_at) or datetime.now(UTC),
                refresh_expires_at=_aware(row.refresh_expires_at) or datetime.now(UTC),
            )
        return QboCompany(
            row.profile_id, row.realm_id, row.status, tokens, row.token_version, row.last_error
        )

    def begin_connect(self, profile_id: str) -> str:
        """A fresh ``state`` for the authorize URL (kept only as a hash)."""
        state = secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = session.get(QboCompanyRow, profile_id)
            if row is None:
                row = QboCompanyRow(
                    profile_id=profile_id, status=PENDING, token_version=0, updated_at=now
                )
                session.add(row)
            elif row.status != CONNECTED:
                row.status = PENDING
            row.state_hash = _hash(state)
            row.updated_at = now
        return state

    def complete_connect(self, state: str, realm_id: str, tokens: TokenSet) -> QboCompany:
        """The callback: store the first tokens of the company whose flow ``state`` began."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = session.scalars(
                select(QboCompanyRow).where(QboCompanyRow.state_hash == _hash(state))
            ).one_or_none()
            if row is None:
                raise UnknownConnect(
                    "the callback's state matches no connect under way: start again with "
                    "qbsync qbo connect"
                )
            other = session.scalars(
                select(QboCompanyRow).where(
                    QboCompanyRow.realm_id == realm_id, QboCompanyRow.profile_id != row.profile_id
                )
            ).one_or_none()
            if other is not None:
                raise UnknownConnect(
                    f"realm {realm_id} is already connected as profile {other.profile_id}"
                )
            row.realm_id = realm_id
            row.state_hash = None
            self._store_tokens(row, tokens, now)
            row.status = CONNECTED
            row.connected_at = now
            row.last_error = None
            return self._company(row)

    def complete_callback(self, callback_url: str, oauth: OAuthClient) -> QboCompany:
        """The whole callback: Intuit redirected the administrator to ``callback_url`` with
        ``code``, ``state`` and ``realmId`` (or ``error``); exchange the code, store."""
        query = parse_qs(urlsplit(callback_url).query)
        if "error" in query:
            raise UnknownConnect(f"Intuit refused the connection: {query['error'][0]}")
        missing = [k for k in ("code", "state", "realmId") if k not in query]
        if missing:
            raise UnknownConnect(f"the callback URL lacks {', '.join(missing)}: pass it whole")
        tokens = oauth.exchange(query["code"][0])
        return self.complete_connect(query["state"][0], query["realmId"][0], tokens)

    def _store_tokens(self, row: QboCompanyRow, tokens: TokenSet, now: datetime) -> None:
        row.access_token = self._cipher.encrypt(tokens.access_token)
        row.refresh_token = self._cipher.encrypt(tokens.refresh_token)
        row.access_expires_at = tokens.access_expires_at
        row.refresh_expires_at = tokens.refresh_expires_at
        row.token_version = row.token_version + 1
        row.updated_at = now

    def status(self, profile_id: str) -> QboStatus | None:
        """Where the company's connection stands, without its tokens (None: never begun)."""
        with self._sessions() as session:
            row = session.get(QboCompanyRow, profile_id)
            if row is None:
                return None
            return QboStatus(row.profile_id, row.realm_id, row.status, row.last_error)

    def company(self, profile_id: str) -> QboCompany | None:
        with self._sessions() as session:
            row = session.get(QboCompanyRow, profile_id)
            return None if row is None else self._company(row)

    def by_realm(self, realm_id: str) -> QboCompany | None:
        with self._sessions() as session:
            row = session.scalars(
                select(QboCompanyRow).where(QboCompanyRow.realm_id == realm_id)
            ).one_or_none()
            return None if row is None else self._company(row)

    def companies(self) -> list[QboCompany]:
        with self._sessions() as session:
            rows = session.scalars(select(QboCompanyRow).order_by(QboCompanyRow.profile_id))
            return [self._company(row) for row in rows]

    def rotate(self, profile_id: str, expected_version: int, tokens: TokenSet) -> QboCompany:
        """Persist refreshed tokens if nobody rotated since ``expected_version``, in one
        statement (compare-and-swap); :class:`RotationLost` otherwise."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            done = session.execute(
                update(QboCompanyRow)
                .where(
                    QboCompanyRow.profile_id == profile_id,
                    QboCompanyRow.token_version == expected_version,
                )
                .values(
                    access_token=self._cipher.encrypt(tokens.access_token),
                    refresh_token=self._cipher.encrypt(tokens.refresh_token),
                    access_expires_at=tokens.access_expires_at,
                    refresh_expires_at=tokens.refresh_expires_at,
                    token_version=expected_version + 1,
                    refresh_lease_until=None,
                    status=CONNECTED,
                    last_error=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 0) != 1:
                raise RotationLost(f"profile {profile_id}: tokens rotated by another process")
        found = self.company(profile_id)
        assert found is not None
        return found

    def claim_refresh(self, profile_id: str, version: int, lease: timedelta) -> bool:
        """Take the right to refresh tokens of ``version`` for ``lease`` (one statement, so
        one process wins); False when another holds it or rotated already."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            done = session.execute(
                update(QboCompanyRow)
                .where(
                    QboCompanyRow.profile_id == profile_id,
                    QboCompanyRow.token_version == version,
                    or_(
                        QboCompanyRow.refresh_lease_until.is_(None),
                        QboCompanyRow.refresh_lease_until < now,
                    ),
                )
                .values(refresh_lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            return getattr(done, "rowcount", 0) == 1

    def release_refresh(self, profile_id: str, version: int) -> None:
        """Give the refresh lease back (the refresh did not happen)."""
        with self._sessions.begin() as session:
            session.execute(
                update(QboCompanyRow)
                .where(
                    QboCompanyRow.profile_id == profile_id,
                    QboCompanyRow.token_version == version,
                )
                .values(refresh_lease_until=None)
                .execution_options(synchronize_session=False)
            )

    def claim_drain(self, profile_id: str, owner: str, lease: timedelta) -> bool:
        """Take (or renew) the right to drain this company for ``lease``, in one statement,
        so of two sender processes only one wins; False when another holds a live lease."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            done = session.execute(
                update(QboCompanyRow)
                .where(
                    QboCompanyRow.profile_id == profile_id,
                    or_(
                        QboCompanyRow.drain_owner.is_(None),
                        QboCompanyRow.drain_owner == owner,
                        QboCompanyRow.drain_lease_until.is_(None),
                        QboCompanyRow.drain_lease_until < now,
                    ),
                )
                .values(drain_owner=owner, drain_lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            return getattr(done, "rowcount", 0) == 1

    def release_drain(self, profile_id: str, owner: str) -> None:
        """Give the drain lease back (only if ``owner`` still holds it)."""
        with self._sessions.begin() as session:
            session.execute(
                update(QboCompanyRow)
                .where(QboCompanyRow.profile_id == profile_id, QboCompanyRow.drain_owner == owner)
                .values(drain_owner=None, drain_lease_until=None)
                .execution_options(synchronize_session=False)
            )

    def mark_reconnect(self, profile_id: str, expected_version: int, reason: str) -> bool:
        """The refresh token is dead: the company shows "reconnect needed" (unless someone
        rotated meanwhile, then False). Nothing queued is touched."""
        with self._sessions.begin() as session:
            done = session.execute(
                update(QboCompanyRow)
                .where(
                    QboCompanyRow.profile_id == profile_id,
                    QboCompanyRow.token_version == expected_version,
                )
                .values(
                    status=RECONNECT_NEEDED,
                    last_error=reason,
                    refresh_lease_until=None,
                    updated_at=datetime.now(UTC),
                )
                .execution_options(synchronize_session=False)
            )
            return getattr(done, "rowcount", 0) == 1
