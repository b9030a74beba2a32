"""The gateway's SOAP layer alone, lean path beside spyne: one JSON object on stdout.

    .venv/bin/python bench/soap_path.py [--rounds N] [--batch N]

Both WSGI apps are built as the gateway builds them (screening, routing, metrics) over the
same :class:`connectors.qbwc._soap.Operations`, whose conversation answers at once with
fixed texts (a 25-request qbXML message for ``sendRequestXML``), so what is timed is only
what sits between the HTTP body and the conversation: the hardened parse, spyne's
validation and dispatch or the lean reader, and writing the answer. Per operation, the
median over ``rounds`` batches of the time per call within a batch (``batch`` calls back
to back, in this process, the garbage collector on), for a session's hot calls:
authenticate, sendRequestXML (with a Host/Company/Preferences answer, as the first call
of a session has) and receiveResponseXML (with a 25-answer response). ``ratio`` is lean /
spyne (below 1: lean is faster).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry
from spyne.server.wsgi import WsgiApplication

from connectors.qbwc._lean import LeanSoap
from connectors.qbwc._metrics import GatewayMetrics
from connectors.qbwc._soap import NAMESPACE, Operations, soap_application
from connectors.qbwc._wsdl import WsdlCache
from connectors.qbwc._wsgi import WsgiApp, build_wsgi
from connectors.qbxml import build_message, build_request

HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope'
    ' xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def envelope(operation: str, **params: str) -> bytes:
    inner = "".join(f"<{k}>{_escape(v)}</{k}>" for k, v in params.items())
    return (
        f'{HEAD}<{operation} xmlns="{NAMESPACE}">{inner}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


MESSAGE = build_message(
    [(str(i), build_request("customer", "Add", {"Name": f"Customer {i} & Co"})) for i in range(25)],
    version="13.0",
)
RESPONSE = (
    '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
    + "".join(
        f'<CustomerAddRs requestID="{i}" statusCode="0" statusSeverity="Info"'
        f' statusMessage="Status OK"><CustomerRet><ListID>8000{i:04d}-1405768916</ListID>'
        f"<Name>Customer {i} &amp; Co</Name></CustomerRet></CustomerAddRs>"
        for i in range(25)
    )
    + "</QBXMLMsgsRs></QBXML>"
)


class _History:
    def client_version(self, *_: object) -> None:
        pass

    def reported(self, *_: object) -> None:
        pass


class Instant:
    """A conversation that answers at once."""

    history = _History()

    def authenticate(self, *_: str) -> list[str]:
        return ["Zq3x7f2b9c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b", "C:\\Company Files\\Acme.QBW"]

    def send_request_xml(self, *_: str) -> str:
        return MESSAGE

    def receive_response_xml(self, *_: str) -> int:
        return 50


def app(path: str) -> WsgiApp:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    operations = Operations(cast(Any, Instant()))
    application = soap_application(operations)
    metrics.attach(application)
    return build_wsgi(
        WsgiApplication(application),
        ready=lambda: True,
        registry=registry,
        wsdl=WsdlCache(application, NAMESPACE),
        lean=LeanSoap(operations, metrics.soap_call).answer if path == "lean" else None,
    )


def call(wsgi: WsgiApp, body: bytes) -> bytes:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/qbwc",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "text/xml; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "gateway",
        "SERVER_PORT": "8080",
        "REMOTE_ADDR": "10.1.2.3",
    }
    return b"".join(wsgi(environ, lambda *_: None))


def per_call_us(wsgi: WsgiApp, body: bytes, rounds: int, batch: int) -> float:
    call(wsgi, body)  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(batch):
            call(wsgi, body)
        times.append((time.perf_counter() - started) / batch * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "qbxml" / "samples"
    hcp_file = shared / "strHCPResponse_Host_Company_Preferences.xml"
    hcp = hcp_file.read_text() if hcp_file.exists() else ""
    calls = {
        "authenticate": envelope("authenticate", strUserName="acme", strPassword="s3cret&<x>"),
        "sendRequestXML": envelope(
            "sendRequestXML",
            ticket="Zq3x7f2b9c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b",
            strHCPResponse=hcp,
            strCompanyFileName="C:\\Company Files\\Acme.QBW",
            qbXMLCountry="US",
            qbXMLMajorVers="13",
            qbXMLMinorVers="0",
        ),
        "receiveResponseXML": envelope(
            "receiveResponseXML",
            ticket="Zq3x7f2b9c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b",
            response=RESPONSE,
            hresult="",
            message="",
        ),
    }
    apps = {path: app(path) for path in ("lean", "spyne")}
    for name, body in calls.items():  # the two paths must agree before they are timed
        assert call(apps["lean"], body) == call(apps["spyne"], body), name
    results: dict[str, dict[str, float]] = {}
    for name, body in calls.items():
        # Interleaved, twice each (ABBA), so drift of the machine's load hits both alike.
        runs = {path: [] for path in apps}  # type: dict[str, list[float]]
        for path in ("lean", "spyne", "spyne", "lean"):
            runs[path].append(per_call_us(apps[path], body, args.rounds, args.batch))
        lean, spyne = statistics.mean(runs["lean"]), statistics.mean(runs["spyne"])
        results[name] = {
            "request_bytes": len(body),
            "lean_us": round(lean, 1),
            "spyne_us": round(spyne, 1),
            "ratio": round(lean / spyne, 3),
        }
    session = {"authenticate": 1, "sendRequestXML": 2, "receiveResponseXML": 2}
    per_session = {
        path: round(sum(results[n][f"{path}_us"] * k for n, k in session.items()) / 1000, 2)
        for path in ("lean", "spyne")
    }
    print(
        json.dumps(
            {
                "bench": "soap_path",
                "python": platform.python_version(),
                "cores": os.cpu_count(),
                "rounds": args.rounds,
                "batch": args.batch,
                "calls": results,
                "soap_ms_per_50_command_session_hot_calls": per_session,
            }
        )
    )


if __name__ == "__main__":
    main()
