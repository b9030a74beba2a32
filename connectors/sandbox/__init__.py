"""A simulated QuickBooks company file and Web Connector, for tests, the demo and support.

- :class:`CompanyFile`: a company file in SQLite that answers qbXML as QuickBooks does
  (lists, transactions, QuickBooks' rules and status codes, iterators, error recovery),
  validating every request against Intuit's schema when given one;
- :class:`Faults` (``company.faults``) and :func:`parse_fault_spec`: locks, a closing date,
  revoked permissions, an unavailable QuickBooks, slow answers, a crash after applying;
- :class:`SandboxWebConnector`: QBWC's SOAP conversation with a gateway, call by call;
  :class:`ScheduledWebConnector` and :class:`WebConnectorPool` run them on a schedule.

See ``docs/sandbox.md``.
"""

from connectors.sandbox._catalog import KINDS, Kind
from connectors.sandbox._company import QBXML_VERSIONS, CompanyFile
from connectors.sandbox._errors import FaultSpecError, QuickBooksCrashed, SandboxError
from connectors.sandbox._faults import (
    Crash,
    Delay,
    Faults,
    FaultSpec,
    LockSpec,
    Unavailable,
    parse_fault_spec,
)
from connectors.sandbox._schedule import ScheduledWebConnector, WebConnectorPool
from connectors.sandbox._transport import HttpTransport, SoapFault, Transport
from connectors.sandbox._validation import find_reference
from connectors.sandbox._web_connector import CLIENT_VERSION, SandboxWebConnector, SessionReport

__all__ = [
    "CLIENT_VERSION",
    "KINDS",
    "QBXML_VERSIONS",
    "CompanyFile",
    "Crash",
    "Delay",
    "FaultSpec",
    "FaultSpecError",
    "Faults",
    "HttpTransport",
    "Kind",
    "LockSpec",
    "QuickBooksCrashed",
    "SandboxError",
    "SandboxWebConnector",
    "ScheduledWebConnector",
    "SessionReport",
    "SoapFault",
    "Transport",
    "Unavailable",
    "WebConnectorPool",
    "find_reference",
    "parse_fault_spec",
]
