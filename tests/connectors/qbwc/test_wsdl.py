"""Our WSDL against Intuit's: same namespace, operations, parameter names and types, and
soapAction values."""

from __future__ import annotations

import http.client
from pathlib import Path

from lxml import etree

from tests.support.gateway import Served

WSDL = "http://schemas.xmlsoap.org/wsdl/"
XS = "http://www.w3.org/2001/XMLSchema"
SOAP_BINDING = "http://schemas.xmlsoap.org/wsdl/soap/"

Signature = dict[str, list[tuple[str, str]]]


def signatures(root: etree._Element) -> Signature:
    """Element name -> [(child name, type local name)], whether the element's type is inline
    (Intuit's) or named (spyne's)."""
    schema = root.find(f".//{{{XS}}}schema")
    assert schema is not None
    types = {t.get("name"): t for t in schema.findall(f"{{{XS}}}complexType")}
    out: Signature = {}
    for element in schema.findall(f"{{{XS}}}element"):
        complex_type = element.find(f"{{{XS}}}complexType")
        if complex_type is None and element.get("type"):
            complex_type = types.get(element.get("type", "").split(":")[-1])
        children = [] if complex_type is None else complex_type.iter(f"{{{XS}}}element")
        out[element.get("name", "")] = [
            (child.get("name", ""), child.get("type", "").split(":")[-1]) for child in children
        ]
    return out


def soap_actions(root: etree._Element) -> dict[str, str]:
    return {
        operation.getparent().get("name", ""): operation.get("soapAction", "")
        for operation in root.iter(f"{{{SOAP_BINDING}}}operation")
    }


def test_wsdl_matches_intuits(served: Served, qbxml_reference: Path) -> None:
    intuit = etree.parse(str(qbxml_reference / "wsdl" / "QBWebConnectorSvc.wsdl")).getroot()
    host, port = served.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/qbwc?wsdl")
    response = connection.getresponse()
    assert response.status == 200
    ours = etree.fromstring(response.read())

    assert (
        ours.get("targetNamespace")
        == intuit.get("targetNamespace")
        == "http://developer.intuit.com/"
    )
    theirs_signatures = signatures(intuit)
    our_signatures = signatures(ours)
    operations = sorted(soap_actions(intuit))
    assert len(operations) == 8
    for operation in operations:
        for element in (operation, f"{operation}Response"):
            assert our_signatures[element] == theirs_signatures[element], element
    assert soap_actions(ours) == soap_actions(intuit)
    address = ours.find(f".//{{{SOAP_BINDING}}}address")
    assert address is not None
    assert address.get("location") == f"{served.url}/qbwc"
