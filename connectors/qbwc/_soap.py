"""The SOAP face of the gateway (spyne), named exactly as Intuit's WSDL names it."""

from __future__ import annotations

from typing import Any

from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11

from connectors.qbwc._gateway import WebConnectorGateway

__all__ = ["NAMESPACE", "soap_application"]

NAMESPACE = "http://developer.intuit.com/"

_ArrayOfString = Array(Unicode, type_name="ArrayOfString")


def soap_application(gateway: WebConnectorGateway) -> Application:
    """A spyne Application bound to ``gateway``; built per process, never at import time."""

    class QBWebConnectorSvc(ServiceBase):  # type: ignore[misc]
        @rpc(_returns=Unicode)  # type: ignore[untyped-decorator]
        def serverVersion(ctx: Any) -> str:
            return gateway.server_version()

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def clientVersion(ctx: Any, strVersion: str | None) -> str:
            return gateway.client_version(strVersion or "")

        @rpc(Unicode, Unicode, _returns=_ArrayOfString)  # type: ignore[untyped-decorator]
        def authenticate(
            ctx: Any,
            strUserName: str | None,
            strPassword: str | None,
        ) -> list[str]:
            return gateway.authenticate(strUserName or "", strPassword or "")

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
            return gateway.send_request_xml(
                ticket or "",
                strHCPResponse or "",
                "" if qbXMLMajorVers is None else str(qbXMLMajorVers),
                "" if qbXMLMinorVers is None else str(qbXMLMinorVers),
            )

        @rpc(Unicode, Unicode, Unicode, Unicode, _returns=Integer32)  # type: ignore[untyped-decorator]
        def receiveResponseXML(
            ctx: Any,
            ticket: str | None,
            response: str | None,
            hresult: str | None,
            message: str | None,
        ) -> int:
            return gateway.receive_response_xml(
                ticket or "", response or "", hresult or "", message or ""
            )

        @rpc(Unicode, Unicode, Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def connectionError(
            ctx: Any, ticket: str | None, hresult: str | None, message: str | None
        ) -> str:
            return gateway.connection_error(ticket or "", hresult or "", message or "")

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def getLastError(ctx: Any, ticket: str | None) -> str:
            return gateway.get_last_error(ticket or "")

        @rpc(Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def closeConnection(ctx: Any, ticket: str | None) -> str:
            return gateway.close_connection(ticket or "")

    return Application(
        [QBWebConnectorSvc],
        tns=NAMESPACE,
        name="QBWebConnectorSvc",
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
