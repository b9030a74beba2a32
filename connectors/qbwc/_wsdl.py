"""The WSDL we publish: spyne's, with Intuit's soapAction values.

spyne names each soapAction after its operation (``authenticate``); Intuit's WSDL, and the
Web Connector, use ``http://developer.intuit.com/authenticate``. Dispatch does not depend on
it (spyne routes by the body element), but a client generated from our WSDL must match.
"""

from __future__ import annotations

import threading

from lxml import etree
from spyne import Application
from spyne.interface.wsdl import Wsdl11

__all__ = ["WsdlCache"]

_SOAP_BINDING = "http://schemas.xmlsoap.org/wsdl/soap/"


class WsdlCache:
    """One rendered WSDL per public URL (built on first request, then reused)."""

    def __init__(self, application: Application, namespace: str) -> None:
        self._application = application
        self._namespace = namespace
        self._documents: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def document(self, url: str) -> bytes:
        with self._lock:
            cached = self._documents.get(url)
            if cached is None:
                cached = self._documents[url] = self._build(url)
            return cached

    def _build(self, url: str) -> bytes:
        wsdl = Wsdl11(self._application.interface)
        wsdl.build_interface_document(url)
        root = etree.fromstring(wsdl.get_interface_document())
        for operation in root.iter(f"{{{_SOAP_BINDING}}}operation"):
            name = operation.get("soapAction", "")
            if name and "://" not in name:
                operation.set("soapAction", self._namespace + name)
        return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
