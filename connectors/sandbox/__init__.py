"""A simulated QuickBooks company file and Web Connector, for tests, the demo and support."""

from connectors.sandbox._company import CompanyFile
from connectors.sandbox._web_connector import (
    HttpTransport,
    SandboxWebConnector,
    SessionReport,
    SoapFault,
    Transport,
)

__all__ = [
    "CompanyFile",
    "HttpTransport",
    "SandboxWebConnector",
    "SessionReport",
    "SoapFault",
    "Transport",
]
