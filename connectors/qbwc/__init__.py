"""The QuickBooks Web Connector gateway: SOAP over HTTP, one session per company file."""

from connectors.qbwc._app import MULTIPROCESS_DIR, Gateway, create_gateway
from connectors.qbwc._gateway import BLOCKED, GatewayConfig, WebConnectorGateway, throttle_key
from connectors.qbwc._login import LoginPolicy
from connectors.qbwc._passwords import generate_password, hash_password, verify_password
from connectors.qbwc._profiles import (
    NewProfile,
    create_profile,
    find_profile,
    reset_password,
    set_enabled,
)
from connectors.qbwc._qwc import QwcError, render_qwc
from connectors.qbwc._soap import NAMESPACE, soap_application
from connectors.qbwc._wsgi import GatewayServer, build_wsgi, serve

__all__ = [
    "BLOCKED",
    "MULTIPROCESS_DIR",
    "NAMESPACE",
    "Gateway",
    "GatewayConfig",
    "GatewayServer",
    "LoginPolicy",
    "NewProfile",
    "QwcError",
    "WebConnectorGateway",
    "build_wsgi",
    "create_gateway",
    "create_profile",
    "find_profile",
    "generate_password",
    "hash_password",
    "render_qwc",
    "reset_password",
    "serve",
    "set_enabled",
    "soap_application",
    "throttle_key",
    "verify_password",
]
