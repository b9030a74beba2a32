"""The QuickBooks Web Connector gateway: SOAP over HTTP, one session per company file."""

from connectors.qbwc._app import Gateway, create_gateway
from connectors.qbwc._gateway import GatewayConfig, WebConnectorGateway
from connectors.qbwc._passwords import generate_password, hash_password, verify_password
from connectors.qbwc._profiles import NewProfile, create_profile
from connectors.qbwc._soap import NAMESPACE, soap_application
from connectors.qbwc._wsgi import GatewayServer, build_wsgi, serve

__all__ = [
    "NAMESPACE",
    "Gateway",
    "GatewayConfig",
    "GatewayServer",
    "NewProfile",
    "WebConnectorGateway",
    "build_wsgi",
    "create_gateway",
    "create_profile",
    "generate_password",
    "hash_password",
    "serve",
    "soap_application",
    "verify_password",
]
