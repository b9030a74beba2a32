"""The store: tenants, profiles (company files), id mappings and Web Connector sessions.

SQLAlchemy 2 models with Alembic migrations; SQLite by default, PostgreSQL in production.
"""

from connectors.store._console import STAFF_ROLES, ConsoleStore, digest
from connectors.store._history_rows import QuickBooksReport, SessionEnd
from connectors.store._migrate import (
    SchemaMismatch,
    check_schema,
    current_revision,
    head_revision,
    open_store,
    upgrade,
)
from connectors.store._models import (
    Base,
    DeliveredChange,
    IdMapping,
    ImportWatermark,
    LoginThrottle,
    Profile,
    QboCompanyRow,
    QboSenderRow,
    QuickBooksRecord,
    SyncLogEntry,
    Tenant,
    WebConnectorSession,
)
from connectors.store._sessions import PastSession, SessionLog
from connectors.store._store import (
    RELEASE_ACTIONS,
    FullRead,
    Holder,
    Mapping,
    ReleaseRequest,
    SessionBusy,
    Store,
    StoreError,
    WorkingSession,
    json_text,
    make_engine,
)

__all__ = [
    "RELEASE_ACTIONS",
    "STAFF_ROLES",
    "Base",
    "ConsoleStore",
    "DeliveredChange",
    "FullRead",
    "Holder",
    "IdMapping",
    "ImportWatermark",
    "LoginThrottle",
    "Mapping",
    "PastSession",
    "Profile",
    "QboCompanyRow",
    "QboSenderRow",
    "QuickBooksRecord",
    "QuickBooksReport",
    "ReleaseRequest",
    "SchemaMismatch",
    "SessionBusy",
    "SessionEnd",
    "SessionLog",
    "Store",
    "StoreError",
    "SyncLogEntry",
    "Tenant",
    "WebConnectorSession",
    "WorkingSession",
    "check_schema",
    "current_revision",
    "digest",
    "head_revision",
    "json_text",
    "make_engine",
    "open_store",
    "upgrade",
]
