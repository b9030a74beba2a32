"""The lean SOAP path: the eight Web Connector operations answered without spyne.

The request has already been parsed by the hardened parser (``_envelope.screen_root``: no
DTD, no entities, no network, in any declared encoding). :func:`read_call` reads the
operation and its arguments from that tree when the request is exactly what the WSDL
describes (document/literal, parameters qualified in ``http://developer.intuit.com/``, in
order, each at most once, integers valid ``xs:int``); anything else, however harmless, is
None and goes to spyne, which validates it against the schema and answers with its own
fault, so both paths answer every request alike. :func:`render` writes the answer envelope
byte for byte as spyne writes it. Both are pure; :class:`LeanSoap` calls the same
:class:`~connectors.qbwc._soap.Operations` spyne calls.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from lxml import etree

from connectors.qbwc._envelope import SOAP_ENV
from connectors.qbwc._soap import NAMESPACE, Operations

__all__ = ["OPERATIONS", "Call", "LeanSoap", "read_call", "render", "server_fault"]

log = logging.getLogger(__name__)

# Each operation's parameters in the WSDL's order (str: xs:string, int: xs:int) and the
# shape of its answer: "string", "int" or "strings" (ArrayOfString).
OPERATIONS: Final[dict[str, tuple[tuple[tuple[str, type], ...], str]]] = {
    "serverVersion": ((), "string"),
    "clientVersion": ((("strVersion", str),), "string"),
    "authenticate": ((("strUserName", str), ("strPassword", str)), "strings"),
    "sendRequestXML": (
        (
            ("ticket", str),
            ("strHCPResponse", str),
            ("strCompanyFileName", str),
            ("qbXMLCountry", str),
            ("qbXMLMajorVers", int),
            ("qbXMLMinorVers", int),
        ),
        "string",
    ),
    "receiveResponseXML": (
        (("ticket", str), ("response", str), ("hresult", str), ("message", str)),
        "int",
    ),
    "connectionError": ((("ticket", str), ("hresult", str), ("message", str)), "string"),
    "getLastError": ((("ticket", str),), "string"),
    "closeConnection": ((("ticket", str),), "string"),
}

_ENV = f"{{{SOAP_ENV}}}"
_TNS = f"{{{NAMESPACE}}}"
_INT = re.compile(r"[ \t\r\n]*([+-]?[0-9]+)[ \t\r\n]*\Z")
_INT32 = range(-(2**31), 2**31)
# Characters XML 1.0 cannot carry (lxml refuses to write them; spyne then faults).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/"'
)
_ANSWER = (
    _HEAD + ' xmlns:tns="http://developer.intuit.com/"><soap11env:Body>'
    "<tns:{op}Response><tns:{op}Result>{result}</tns:{op}Result></tns:{op}Response>"
    "</soap11env:Body></soap11env:Envelope>"
)
_SERVER_FAULT = (
    _HEAD + "><soap11env:Body><soap11env:Fault><faultcode>soap11env:Server</faultcode>"
    "<faultstring>Internal Error</faultstring><faultactor></faultactor></soap11env:Fault>"
    "</soap11env:Body></soap11env:Envelope>"
).encode()

Value = str | int | None


@dataclass(frozen=True)
class Call:
    """One operation and its arguments in the WSDL's order (None: absent)."""

    operation: str
    args: tuple[Value, ...]


def _blank(text: str | None) -> bool:
    return not text or not text.strip(" \t\r\n")


def _only_elements(parent: etree._Element) -> bool:
    """No comment, processing instruction or character data among the children."""
    return _blank(parent.text) and all(
        isinstance(child.tag, str) and _blank(child.tail) for child in parent
    )


def read_call(root: etree._Element) -> Call | None:
    """The call in a screened envelope, or None when spyne should answer it."""
    if root.attrib or not _only_elements(root):
        return None
    body = None
    for part in root:
        if part.tag == f"{_ENV}Body" and body is None:
            body = part
        elif part.tag != f"{_ENV}Header" or len(part) or not _blank(part.text) or part.attrib:
            return None
    if body is None or body.attrib or len(body) != 1 or not _only_elements(body):
        return None
    operation = body[0]
    tag = str(operation.tag)
    spec = OPERATIONS.get(tag[len(_TNS) :]) if tag.startswith(_TNS) else None
    if spec is None or operation.attrib or not _only_elements(operation):
        return None
    params, _ = spec
    names = [f"{_TNS}{name}" for name, _ in params]
    values: list[Value] = [None] * len(params)
    at = 0
    for element in operation:
        try:
            at = names.index(str(element.tag), at)
        except ValueError:
            return None  # unknown, repeated or out of order: a schema fault, spyne's
        if element.attrib or len(element):
            return None  # xsi:nil, stray markup: spyne decides
        text = element.text or ""
        if params[at][1] is int:
            number = _INT.match(text)
            if number is None or int(number.group(1)) not in _INT32:
                return None
            values[at] = int(number.group(1))
        else:
            values[at] = text
        at += 1
    return Call(tag[len(_TNS) :], tuple(values))


def _escape(text: str) -> str:
    if _NOT_XML.search(text):
        raise ValueError("the answer holds a character XML 1.0 cannot carry")
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def render(operation: str, result: object) -> bytes:
    """The answer envelope, byte for byte as spyne's Soap11 writes it."""
    shape = OPERATIONS[operation][1]
    if shape == "strings":
        assert isinstance(result, list)
        text = "".join(f"<tns:string>{_escape(str(item))}</tns:string>" for item in result)
    elif shape == "int":
        assert isinstance(result, int)
        text = str(result)
    else:
        assert isinstance(result, str)
        text = _escape(result)
    return _ANSWER.format(op=operation, result=text).encode("utf-8")


def server_fault() -> bytes:
    """spyne's answer when an operation raises."""
    return _SERVER_FAULT


Observe = Callable[[str, str, float], None]


class LeanSoap:
    """Answers the calls :func:`read_call` reads through ``operations``; ``observe``
    (operation, ``ok`` or ``fault``, seconds) is told of each, as spyne's hooks are."""

    def __init__(self, operations: Operations, observe: Observe) -> None:
        self._operations = operations
        self._observe = observe

    def answer(self, root: etree._Element, environ: dict[str, Any]) -> tuple[str, bytes] | None:
        """``(HTTP status, body)``, or None: spyne answers this request."""
        call = read_call(root)
        if call is None:
            return None
        started = time.perf_counter()
        try:
            method: Callable[..., object] = getattr(self._operations, call.operation)
            body = render(call.operation, method(environ, *call.args))
        except Exception as error:  # what spyne does: a Server fault, logged by type
            log.error(
                "operation raised",
                extra={"operation": call.operation, "error": type(error).__name__},
            )
            self._observe(call.operation, "fault", time.perf_counter() - started)
            return "500 Internal Server Error", server_fault()
        self._observe(call.operation, "ok", time.perf_counter() - started)
        return "200 OK", body
