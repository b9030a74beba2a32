"""The SOAP face of the gateway (spyne), named exactly as Intuit's WSDL names it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11

from connectors.qbwc._gateway import WebConnectorGateway

__all__ = ["NAMESPACE", "client_of", "soap_application"]

NAMESPACE = "http://developer.intuit.com/"

_ArrayOfString = Array(Unicode, type_name="ArrayOfString")

T = TypeVar("T")


def client_of(environ: dict[str, Any]) -> str:
    """Who is calling, as a hash of the address (the first X-Forwarded-For hop behind a
    proxy) and the User-Agent: the same Web Connector coming back after its session died
    takes that session over (a mismatch only costs the wait for the session to expire)."""
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")[0].strip()
    address = forwarded or str(environ.get("REMOTE_ADDR") or "")
    agent = str(environ.get("HTTP_USER_AGENT") or "")
    return hashlib.sha256(f"{address}\n{agent}".encode()).hexdigest()[:32]


def soap_application(gateway: WebConnectorGateway) -> Application:
    """A spyne Application bound to ``gateway``; built per process, never at import time.

    An exception inside an operation is never spyne's bare "Internal Error" fault: the
    gateway logs it (type, operation, ids), leaves the session's batch as an unknown outcome
    and the operation answers as the protocol expects on failure (``""`` or ``-1``: the Web
    Connector then asks getLastError, which says what happened)."""

    def guarded(operation: str, ticket: str, call: Callable[[], T], failure: T) -> T:
        try:
            return call()
        except Exception as error:  # one message never kills a session's protocol
            gateway.failed(operation, ticket, error)
            return failure

    class QBWebConnectorSvc(ServiceBase):  # type: ignore[misc]
        @rpc(_returns=Unicode)  # type: ignore[untyped-decorator]
        def serverVersion(ctx: Any) -> str:
            return gateway.server_version()

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def clientVersion(ctx: Any, strVersion: str | None) -> str:
            gateway.history.client_version(client_of(ctx.transport.req_env), strVersion or "")
            return gateway.client_version(strVersion or "")

        @rpc(Unicode, Unicode, _returns=_ArrayOfString)  # type: ignore[untyped-decorator]
        def authenticate(
            ctx: Any,
            strUserName: str | None,
            strPassword: str | None,
        ) -> list[str]:
            return guarded(
                "authenticate",
                "",
                lambda: gateway.authenticate(
                    strUserName or "", strPassword or "", client_of(ctx.transport.req_env)
                ),
                # "busy": the Web Connector comes back at its next scheduled update.
                [secrets.token_urlsafe(32), "busy"],
            )

        @rpc(  # type: ignore[untyped-decorator]
            Unicode, Unicode, Unicode, Unicode, Integer32, Integer32, _returns=Unicode
        )
        def sendRequestXML(
            ctx: Any,
            ticket: str | None,
            strHCPResponse: str | None,
            strCompanyFileName: str | None,
            qbXMLCountry: str | None,
            qbXMLMajorVers: int | None,
            qbXMLMinorVers: int | None,
        ) -> str:
            gateway.history.reported(ticket or "", qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers)
            return guarded(
                "sendRequestXML",
                ticket or "",
                lambda: gateway.send_request_xml(
                    ticket or "",
                    strHCPResponse or "",
                    "" if qbXMLMajorVers is None else str(qbXMLMajorVers),
                    "" if qbXMLMinorVers is None else str(qbXMLMinorVers),
                ),
                "",
            )

        @rpc(Unicode, Unicode, Unicode, Unicode, _returns=Integer32)  # type: ignore[untyped-decorator]
        def receiveResponseXML(
            ctx: Any,
            ticket: str | None,
            response: str | None,
            hresult: str | None,
            message: str | None,
        ) -> int:
            return guarded(
                "receiveResponseXML",
                ticket or "",
                lambda: gateway.receive_response_xml(
                    ticket or "", response or "", hresult or "", message or ""
                ),
                -1,
            )

        @rpc(Unicode, Unicode, Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def connectionError(
            ctx: Any, ticket: str | None, hresult: str | None, message: str | None
        ) -> str:
            return guarded(
                "connectionError",
                ticket or "",
                lambda: gateway.connection_error(ticket or "", hresult or "", message or ""),
                "done",
            )

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def getLastError(ctx: Any, ticket: str | None) -> str:
            return guarded(
                "getLastError",
                ticket or "",
                lambda: gateway.get_last_error(ticket or ""),
                "qbsync could not read this session's state; the error is logged on the server"
                " and the next scheduled update will try again.",
            )

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def closeConnection(ctx: Any, ticket: str | None) -> str:
            return guarded(
                "closeConnection",
                ticket or "",
                lambda: gateway.close_connection(ticket or ""),
                "Session closed.",
            )

    return Application(
        [QBWebConnectorSvc],
        tns=NAMESPACE,
        name="QBWebConnectorSvc",
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
