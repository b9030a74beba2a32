"""QuickBooks Online: the adapter between qbsync's command topics and Intuit's v3 REST API.

What is here (issue 19, first slice; ``docs/qbo.md`` says what is left):

- typed requests and responses (:class:`QboRequest`, :class:`QboResponse`), QBO's faults in a
  catalog in the style of the qbXML one (:func:`explain_fault`);
- the OAuth 2.0 authorization-code flow per company (:class:`OAuthClient`), tokens encrypted
  at rest and rotated atomically in the store (:class:`QboConnections`, :class:`TokenKeeper`);
- Intuit's per-realm limits (:class:`RealmLimits`: 500 requests a minute, 10 at a time),
  ``Retry-After`` and backoff on 429/503, a ``requestid`` on every write (:class:`QboClient`);
- the sender that drains one command topic per QBO company (:class:`QboSender`).

**HTTP client: httpx2** (``httpx2.Client``). It is already a dependency (the Schema Registry
client's), so it adds nothing to install; one client keeps a keep-alive connection pool per
host, which matters at 500 requests a minute per realm across many realms; its timeouts are
explicit per phase, so a time-out is a typed exception the client can retry with the same
``requestid``; and its transport is a seam (``httpx2.MockTransport`` for unit tests of pure
retry logic, the real one against the QBO sandbox over HTTP for everything else). ``requests``
(also installed) has no per-phase timeout type and no transport seam.

**Not python-quickbooks or intuit-oauth.** python-quickbooks wraps every entity in its own
classes over ``requests`` with a session per client object, and decides retries, ``requestid``
and token refresh itself, which are exactly the three things qbsync must control (idempotent
retries after time-outs, a per-realm limiter shared by threads, rotation persisted atomically
before the new token is used). intuit-oauth is a thin ``requests`` wrapper around three form
posts (authorize URL, code exchange, refresh, revoke); writing them here costs about as many
lines as adapting it, and keeps one HTTP client, one timeout policy and ``SecretStr`` secrets.
"""

from connectors.qbo._accounts import (
    ACCOUNT_SUB_TYPES,
    ACCOUNT_TYPES,
    account_problem,
    qbo_account_problem,
)
from connectors.qbo._app import (
    SENDER_GROUP,
    QboRuntime,
    create_qbo_runtime,
    oauth_app,
    sender_name,
)
from connectors.qbo._catalog import QBO_CATALOG, explain_code, explain_fault
from connectors.qbo._changes import ChangedRecord, ChangePage, read_changes
from connectors.qbo._client import ClientConfig, QboClient, QboUnavailable, TokenSource
from connectors.qbo._connections import (
    CONNECTED,
    PENDING,
    RECONNECT_NEEDED,
    QboCompany,
    QboConnections,
    QboStatus,
    RotationLost,
    UnknownConnect,
    create_company,
)
from connectors.qbo._crypto import TokenCipher
from connectors.qbo._imports import READABLE, as_imported
from connectors.qbo._limits import BATCHES_PER_MINUTE, RealmLimiter, RealmLimits
from connectors.qbo._oauth import (
    OAuthApp,
    OAuthClient,
    OAuthFailed,
    ReconnectNeeded,
    TokenSet,
    authorize_url,
)
from connectors.qbo._project_items import PROJECT_INCOME_ACCOUNT, PROJECT_ITEMS, project_item_name
from connectors.qbo._reader import (
    QboReader,
    ReaderConfig,
    ReadReport,
    imports_read,
    sweep_key,
    webhook_hints,
)
from connectors.qbo._records import (
    QboEntityRequest,
    QboError,
    QboOperation,
    QboRequest,
    QboResponse,
)
from connectors.qbo._sender import DrainReport, QboSender, SenderConfig
from connectors.qbo._sharing import SenderRoster, assign
from connectors.qbo._tokens import TokenKeeper
from connectors.qbo._webhooks import (
    DataChange,
    InvalidSignature,
    WebhookApp,
    parse_notifications,
    sign,
    verify,
    webhook_app,
)

__all__ = [
    "ACCOUNT_SUB_TYPES",
    "ACCOUNT_TYPES",
    "BATCHES_PER_MINUTE",
    "CONNECTED",
    "PENDING",
    "PROJECT_INCOME_ACCOUNT",
    "PROJECT_ITEMS",
    "QBO_CATALOG",
    "READABLE",
    "RECONNECT_NEEDED",
    "SENDER_GROUP",
    "ChangePage",
    "ChangedRecord",
    "ClientConfig",
    "DataChange",
    "DrainReport",
    "InvalidSignature",
    "OAuthApp",
    "OAuthClient",
    "OAuthFailed",
    "QboClient",
    "QboCompany",
    "QboConnections",
    "QboEntityRequest",
    "QboError",
    "QboOperation",
    "QboReader",
    "QboRequest",
    "QboResponse",
    "QboRuntime",
    "QboSender",
    "QboStatus",
    "QboUnavailable",
    "ReadReport",
    "ReaderConfig",
    "RealmLimiter",
    "RealmLimits",
    "ReconnectNeeded",
    "RotationLost",
    "SenderConfig",
    "SenderRoster",
    "TokenCipher",
    "TokenKeeper",
    "TokenSet",
    "TokenSource",
    "UnknownConnect",
    "WebhookApp",
    "account_problem",
    "as_imported",
    "assign",
    "authorize_url",
    "create_company",
    "create_qbo_runtime",
    "explain_code",
    "explain_fault",
    "imports_read",
    "oauth_app",
    "parse_notifications",
    "project_item_name",
    "qbo_account_problem",
    "read_changes",
    "sender_name",
    "sign",
    "sweep_key",
    "verify",
    "webhook_app",
    "webhook_hints",
]
