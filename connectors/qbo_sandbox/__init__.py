"""A QuickBooks Online simulator faithful to what a sync depends on: Intuit's v3 URL shapes
and JSON, the query language subset, batch, CDC, SyncToken, ``requestid``, OAuth, webhooks,
per-realm limits and injectable faults, served over real HTTP (``docs/qbo.md``)."""

from connectors.qbo_sandbox._company import Company
from connectors.qbo_sandbox._faults import Fault, FaultKind
from connectors.qbo_sandbox._query import Query, QueryError, parse_query
from connectors.qbo_sandbox._server import (
    BATCH_ITEMS,
    BATCHES_PER_MINUTE,
    CONCURRENT,
    PER_MINUTE,
    QboSandbox,
)

__all__ = [
    "BATCHES_PER_MINUTE",
    "BATCH_ITEMS",
    "CONCURRENT",
    "PER_MINUTE",
    "Company",
    "Fault",
    "FaultKind",
    "QboSandbox",
    "Query",
    "QueryError",
    "parse_query",
]
