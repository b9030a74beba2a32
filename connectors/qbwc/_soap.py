"""The SOAP face of the gateway (spyne), named exactly as Intuit's WSDL names it; the
operations themselves are :class:`Operations`, which the lean path (``_lean``) calls too."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11

from connectors.qbwc._gateway import WebConnectorGateway

__all__ = ["NAMESPACE", "Operations", "client_of", "soap_application"]

NAMESPACE = "http://developer.intuit.com/"

_ArrayOfString = Array(Unicode, type_name="ArrayOfString")

T = TypeVar("T")

Environ = dict[str, Any]


def client_of(environ: Environ) -> str:
    """Who is calling, as a hash of the address (the first X-Forwarded-For hop behind a
    proxy) and the User-Agent: the same Web Connector coming back after its session died
    takes that session over (a mismatch only costs the wait for the session to expire)."""
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")[0].strip()
    address = forwarded or str(environ.get("REMOTE_ADDR") or "")
    agent = str(environ.get("HTTP_USER_AGENT") or "")
    return hashlib.sha256(f"{address}\n{agent}".encode()).hexdigest()[:32]


class Operations:
    """The eight QBWC operations as plain calls with the WSDL's parameters (``None`` for an
    absent or nil one), bound to ``gateway``: what both SOAP paths call.

    An exception inside an operation is never a bare "Internal Error" fault: the gateway
    logs it (type, operation, ids), leaves the session's batch as an unknown outcome and the
    operation answers as the protocol expects on failure (``""`` or ``-1``: the Web
    Connector then asks getLastError, which says what happened)."""

    def __init__(self, gateway: WebConnectorGateway) -> None:
        self._gateway = gateway

    def _guarded(self, operation: str, ticket: str, call: Callable[[], T], failure: T) -> T:
        try:
            return call()
        except Exception as error:  # one message never kills a session's protocol
            self._gateway.failed(operation, ticket, error)
            return failure

    def serverVersion(self, environ: Environ) -> str:
        return self._gateway.server_version()

    def clientVersion(self, environ: Environ, strVersion: str | None) -> str:
        gateway = self._gateway
        gateway.history.client_version(client_of(environ), strVersion or "")
        return gateway.client_version(strVersion or "")

    def authenticate(
        self,
        environ: Environ,
        strUserName: str | None,
        strPassword: str | None,
    ) -> list[str]:
        return self._guarded(
            "authenticate",
            "",
            lambda: self._gateway.authenticate(
                strUserName or "", strPassword or "", client_of(environ)
            ),
            # "busy": the Web Connector comes back at its next scheduled update.
            [secrets.token_urlsafe(32), "busy"],
        )

    def sendRequestXML(
        self,
        environ: Environ,
        ticket: str | None,
        strHCPResponse: str | None,
        strCompanyFileName: str | None,
        qbXMLCountry: str | None,
        qbXMLMajorVers: int | None,
        qbXMLMinorVers: int | None,
    ) -> str:
        gateway = self._gateway
        gateway.history.reported(ticket or "", qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers)
        return self._guarded(
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

    def receiveResponseXML(
        self,
        environ: Environ,
        ticket: str | None,
        response: str | None,
        hresult: str | None,
        message: str | None,
    ) -> int:
        return self._guarded(
            "receiveResponseXML",
            ticket or "",
            lambda: self._gateway.receive_response_xml(
                ticket or "", response or "", hresult or "", message or ""
            ),
            -1,
        )

    def connectionError(
        self, environ: Environ, ticket: str | None, hresult: str | None, message: str | None
    ) -> str:
        return self._guarded(
            "connectionError",
            ticket or "",
            lambda: self._gateway.connection_error(ticket or "", hresult or "", message or ""),
            "done",
        )

    def getLastError(self, environ: Environ, ticket: str | None) -> str:
        return self._guarded(
            "getLastError",
            ticket or "",
            lambda: self._gateway.get_last_error(ticket or ""),
            "qbsync could not read this session's state; the error is logged on the server"
            " and the next scheduled update will try again.",
        )

    def closeConnection(self, environ: Environ, ticket: str | None) -> str:
        return self._guarded(
            "closeConnection",
            ticket or "",
            lambda: self._gateway.close_connection(ticket or ""),
            "Session closed.",
        )


def soap_application(gateway: WebConnectorGateway | Operations) -> Application:
    """A spyne Application bound to ``gateway`` (or to its :class:`Operations`); built per
    process, never at import time."""
    ops = gateway if isinstance(gateway, Operations) else Operations(gateway)

    def env(ctx: Any) -> Environ:
        return ctx.transport.req_env  # type: ignore[no-any-return]

    class QBWebConnectorSvc(ServiceBase):  # type: ignore[misc]
        @rpc(_returns=Unicode)  # type: ignore[untyped-decorator]
        def serverVersion(ctx: Any) -> str:
            return ops.serverVersion(env(ctx))

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def clientVersion(ctx: Any, strVersion: str | None) -> str:
            return ops.clientVersion(env(ctx), strVersion)

        @rpc(Unicode, Unicode, _returns=_ArrayOfString)  # type: ignore[untyped-decorator]
        def authenticate(ctx: Any, strUserName: str | None, strPassword: str | None) -> list[str]:
            return ops.authenticate(env(ctx), strUserName, strPassword)

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
            return ops.sendRequestXML(
                env(ctx),
                ticket,
                strHCPResponse,
                strCompanyFileName,
                qbXMLCountry,
                qbXMLMajorVers,
                qbXMLMinorVers,
            )

        @rpc(Unicode, Unicode, Unicode, Unicode, _returns=Integer32)  # type: ignore[untyped-decorator]
        def receiveResponseXML(
            ctx: Any,
            ticket: str | None,
            response: str | None,
            hresult: str | None,
            message: str | None,
        ) -> int:
            return ops.receiveResponseXML(env(ctx), ticket, response, hresult, message)

        @rpc(Unicode, Unicode, Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def connectionError(
            ctx: Any, ticket: str | None, hresult: str | None, message: str | None
        ) -> str:
            return ops.connectionError(env(ctx), ticket, hresult, message)

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def getLastError(ctx: Any, ticket: str | None) -> str:
            return ops.getLastError(env(ctx), ticket)

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def closeConnection(ctx: Any, ticket: str | None) -> str:
            return ops.closeConnection(env(ctx), ticket)

    return Application(
        [QBWebConnectorSvc],
        tns=NAMESPACE,
        name="QBWebConnectorSvc",
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
