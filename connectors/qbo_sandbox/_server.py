"""The QBO sandbox over HTTP: Intuit's v3 URL shapes on a real server (waitress, 127.0.0.1).

- ``GET|POST /v3/company/<realm>/<entity>[/<id>]`` create, update (full or sparse), read,
  ``?operation=delete|void``; ``/query?query=``; ``/batch`` (30 items at most); ``/cdc``;
- ``?requestid=``: a write repeated with the same id gets the first answer, not a second write;
- limits per realm: 500 requests a minute (a batch request is one) and 10 at a time, 40 batch
  requests a minute (``window_s``: a minute, shorter only for a benchmark); beyond them HTTP
  429 ``ThrottleExceeded`` (code 3001) with ``Retry-After``;
- ``/batch`` answers a repeated ``requestid`` with its first answer, and its items do not
  see what earlier items of the same batch created;
- OAuth: ``GET /connect/oauth2`` (consent, auto-granted for :attr:`QboSandbox.consent_realm`),
  ``POST /oauth2/v1/tokens/bearer``, ``POST /oauth2/v1/tokens/revoke``; a bad or expired token
  is HTTP 401 ``AuthenticationFault`` 3200;
- webhooks: after each write, an ``eventNotifications`` POST signed ``intuit-signature``;
- injectable faults (:class:`connectors.qbo_sandbox.Fault`).

Limits and codes are from ``../shared/qbo/README.md`` (Intuit's developer documentation).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx2
from pydantic import SecretStr

from connectors.qbo._webhooks import sign
from connectors.qbo_sandbox._company import ENTITIES, Answer, Company, fault, now_text
from connectors.qbo_sandbox._faults import Fault, FaultKind, Faults
from connectors.qbo_sandbox._oauth import OAuthServer
from connectors.qbwc import GatewayServer

__all__ = ["BATCHES_PER_MINUTE", "BATCH_ITEMS", "CONCURRENT", "PER_MINUTE", "QboSandbox"]

log = logging.getLogger(__name__)

PER_MINUTE = 500
CONCURRENT = 10
BATCHES_PER_MINUTE = 40
BATCH_ITEMS = 30
# Intuit: a batch's requestid at most 36 characters, each bId then at most 10.
BATCH_REQUEST_ID = 36
BATCH_ID_WITH_REQUEST_ID = 10
# What a fault naming an entity does to a batch item of that entity.
_ITEM_FAULTS: frozenset[FaultKind] = frozenset(
    {"throttle", "server_error", "duplicate_name", "closed_books", "slow"}
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Window:
    """Requests started in the last minute and in flight, for one realm."""

    def __init__(self) -> None:
        self.starts: deque[float] = deque()
        self.batches: deque[float] = deque()
        self.active = 0


def _trim(starts: deque[float], now: float, window_s: float) -> None:
    while starts and now - starts[0] >= window_s:
        starts.popleft()


def _throttled(retry_after: int) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    status, body = fault(
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.",
        kind="ThrottleExceeded",
        status=429,
    )
    return status, body, [("Retry-After", str(retry_after))]


def _unauthorized() -> Answer:
    # Intuit's 401s spell "fault" and "error" in lower case.
    return 401, {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired or invalid",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": now_text(datetime.now(UTC)),
    }


class QboSandbox:
    """Companies, the OAuth server, limits and faults, served by :meth:`serve`."""

    def __init__(
        self,
        *,
        client_id: str = "sandbox-client",
        client_secret: str | None = None,
        per_minute: int = PER_MINUTE,
        concurrent: int = CONCURRENT,
        window_s: float = 60.0,
        batches_per_minute: int = BATCHES_PER_MINUTE,
    ) -> None:
        # The simulated app's secret: random unless a test names one.
        self.oauth = OAuthServer(client_id, client_secret or secrets.token_urlsafe(24))
        self.faults = Faults()
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.window_s = window_s
        self.batches_per_minute = batches_per_minute
        self.consent_realm: str | None = None
        # Token requests still to be answered 503 (Intuit's OAuth server having a bad day).
        self.oauth_outages = 0
        self.webhook_url: str | None = None
        self.webhook_verifier: SecretStr | None = None
        self._companies: dict[str, Company] = {}
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        # (realm, method, path, status, time.monotonic()) of every API request answered
        self.requests: list[tuple[str, str, str, int, float]] = []
        self.peak_concurrency: dict[str, int] = {}
        self._hooks: list[threading.Thread] = []

    # -- companies ------------------------------------------------------------------------

    def add_company(self, realm_id: str) -> Company:
        with self._lock:
            company = self._companies.setdefault(realm_id, Company(realm_id))
            self._windows.setdefault(realm_id, _Window())
            if self.consent_realm is None:
                self.consent_realm = realm_id
            return company

    def company(self, realm_id: str) -> Company:
        return self._companies[realm_id]

    def inject(self, realm_id: str, fault_: Fault) -> None:
        self.faults.inject(realm_id, fault_)

    def consent(self, authorize_url: str, realm_id: str) -> str:
        """An administrator of ``realm_id`` opens ``authorize_url`` (over HTTP) and grants
        access; the callback URL Intuit redirects the browser to."""
        self.consent_realm = realm_id
        answer = httpx2.get(authorize_url, follow_redirects=False, timeout=10)
        if answer.status_code != 302:
            raise ValueError(f"consent refused ({answer.status_code}): check the client id")
        return str(answer.headers["Location"])

    def tokens_for(self, realm_id: str) -> dict[str, object]:
        """Tokens as the code exchange would give them (for tests that skip the consent)."""
        code = self.oauth.grant_code(realm_id, "urn:sandbox")
        issued = self.oauth.exchange(code, "urn:sandbox")
        assert issued is not None
        return issued

    # -- serving --------------------------------------------------------------------------

    @contextmanager
    def serve(self, threads: int = 16) -> Iterator[str]:
        """Serve on 127.0.0.1 (a free port) in a thread; yields the base URL."""
        server = GatewayServer(self.wsgi, host="127.0.0.1", port=0, threads=threads)
        thread = threading.Thread(target=server.run, name="qbo-sandbox", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.port}"
        finally:
            server.stop()
            thread.join(10)
            for hook in self._hooks:
                hook.join(5)

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        headers: list[tuple[str, str]] = []
        if path == "/connect/oauth2" and method == "GET":
            return self._consent(query, start_response)
        if path == "/oauth2/v1/tokens/bearer" and method == "POST":
            status, body = self._token(environ, raw)
        elif path == "/oauth2/v1/tokens/revoke" and method == "POST":
            status, body = self._revoke(environ, raw)
        elif path.startswith("/v3/company/"):
            status, body, headers = self._api(environ, method, path, query, raw)
        else:
            status, body = 404, {"error": "not found"}
        return self._reply(start_response, status, body, headers)

    @staticmethod
    def _reply(
        start_response: StartResponse,
        status: int,
        body: dict[str, Any],
        headers: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        payload = json.dumps(body).encode()
        reasons = {
            200: "OK",
            302: "Found",
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
            503: "Service Unavailable",
        }
        start_response(
            f"{status} {reasons.get(status, 'Error')}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(payload))),
                ("intuit_tid", f"sandbox-{time.monotonic_ns()}"),
                *(headers or []),
            ],
        )
        return [payload]

    # -- OAuth ----------------------------------------------------------------------------

    def _consent(self, query: dict[str, list[str]], start_response: StartResponse) -> list[bytes]:
        client_id = (query.get("client_id") or [""])[0]
        redirect = (query.get("redirect_uri") or [""])[0]
        state = (query.get("state") or [""])[0]
        if client_id != self.oauth.client_id or not redirect or self.consent_realm is None:
            return self._reply(start_response, 400, {"error": "invalid_request"})
        code = self.oauth.grant_code(self.consent_realm, redirect)
        location = f"{redirect}?" + urlencode(
            {"code": code, "state": state, "realmId": self.consent_realm}
        )
        start_response("302 Found", [("Location", location), ("Content-Length", "0")])
        return [b""]

    def _client_ok(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) == (self.oauth.client_id, self.oauth.client_secret)

    def _token(self, environ: dict[str, Any], raw: bytes) -> Answer:
        with self._lock:
            if self.oauth_outages > 0:
                self.oauth_outages -= 1
                return 503, {"error": "temporarily_unavailable"}
        if not self._client_ok(environ):
            return 401, {"error": "invalid_client"}
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.oauth.exchange(form.get("code", ""), form.get("redirect_uri", ""))
        elif grant == "refresh_token":
            issued = self.oauth.refresh(form.get("refresh_token", ""))
        else:
            return 400, {"error": "unsupported_grant_type"}
        if issued is None:
            return 400, {"error": "invalid_grant"}
        return 200, dict(issued)

    def _revoke(self, environ: dict[str, Any], raw: bytes) -> Answer:
        if not self._client_ok(environ):
            return 401, {"error": "invalid_client"}
        try:
            token = str(json.loads(raw or b"{}").get("token", ""))
        except (ValueError, AttributeError):
            return 400, {"error": "invalid_request"}
        self.oauth.revoke(token)
        return 200, {}

    # -- the API --------------------------------------------------------------------------

    def _api(
        self,
        environ: dict[str, Any],
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw: bytes,
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        parts = path.removeprefix("/v3/company/").strip("/").split("/")
        realm_id, rest = parts[0], parts[1:]
        company = self._companies.get(realm_id)
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        write = method == "POST" and rest[:1] != ["query"]
        entity = ENTITIES.get(rest[0].lower()) if rest else None
        operation = (query.get("operation") or [""])[0] if write else ""
        chosen = self.faults.take(realm_id, entity, write, operation=operation)
        if chosen is not None and chosen.kind == "expired_token":
            self.oauth.expire(token)
        if self.oauth.realm_of(token) is None:
            status, body = _unauthorized()
            return self._log(realm_id, method, path, status, body, [])
        if company is None or self.oauth.realm_of(token) != realm_id:
            status, body = fault(
                "3100",
                "ApplicationAuthorizationFailed",
                "The token does not open this company",
                kind="AuthorizationFault",
                status=403,
            )
            return self._log(realm_id, method, path, status, body, [])
        window = self._windows[realm_id]
        refused = self._admit(realm_id, window, rest[:1] == ["batch"])
        if refused is not None:
            return self._log(realm_id, method, path, *_throttled(refused))
        try:
            status, body, headers = self._dispatch(company, method, rest, query, raw, chosen)
        finally:
            with self._lock:
                window.active -= 1
        return self._log(realm_id, method, path, status, body, headers)

    def _admit(self, realm_id: str, window: _Window, is_batch: bool) -> int | None:
        """Count one request in; the Retry-After seconds when it is over a limit."""
        with self._lock:
            now = time.monotonic()
            _trim(window.starts, now, self.window_s)
            _trim(window.batches, now, self.window_s)
            if window.active >= self.concurrent:
                return 1
            if len(window.starts) >= self.per_minute:
                return max(1, math.ceil(window.starts[0] + self.window_s - now))
            if is_batch and len(window.batches) >= self.batches_per_minute:
                return max(1, math.ceil(window.batches[0] + self.window_s - now))
            window.starts.append(now)
            if is_batch:
                window.batches.append(now)
            window.active += 1
            self.peak_concurrency[realm_id] = max(
                self.peak_concurrency.get(realm_id, 0), window.active
            )
            return None

    def _log(
        self,
        realm_id: str,
        method: str,
        path: str,
        status: int,
        body: dict[str, Any],
        headers: list[tuple[str, str]],
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        with self._lock:
            self.requests.append((realm_id, method, path, status, time.monotonic()))
        return status, body, headers

    def _dispatch(
        self,
        company: Company,
        method: str,
        rest: list[str],
        query: dict[str, list[str]],
        raw: bytes,
        chosen: Fault | None,
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        if chosen is not None and chosen.kind == "throttle":
            return _throttled(chosen.retry_after_s)
        if chosen is not None and chosen.kind == "server_error":
            status, body = fault(
                "10000",
                "An application error has occurred while processing your request",
                "System Failure Error",
                kind="SystemFault",
                status=500,
            )
            return status, body, []
        if chosen is not None and chosen.kind == "unavailable":
            return 503, {}, [("Retry-After", str(chosen.retry_after_s))]
        if not rest:
            return (*fault("500", "Unsupported Operation", "no entity in the URL"), [])
        head = rest[0].lower()
        if head == "query":
            text = (query.get("query") or [raw.decode()])[0]
            with company.lock:
                return (*company.query(text), [])
        if head == "cdc" and method == "GET":
            return (*self._cdc(company, query), [])
        if head == "batch" and method == "POST":
            return (*self._batch(company, raw, (query.get("requestid") or [""])[0]), [])
        if head == "companyinfo" and method == "GET":
            if len(rest) < 2 or rest[1] != company.realm_id:
                return (
                    *fault("610", "Object Not Found", "CompanyInfo is at /companyinfo/<realm>"),
                    [],
                )
            with company.lock:
                return (*company.company_info(), [])
        entity = ENTITIES.get(head)
        if entity is None:
            return (*fault("500", "Unsupported Operation", f"Unknown entity {rest[0]}"), [])
        if method == "GET":
            if len(rest) < 2:
                return (*fault("500", "Unsupported Operation", "GET needs an id"), [])
            with company.lock:
                return (*company.read(entity, rest[1]), [])
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return (
                *fault(
                    "2020", "Request has invalid or unsupported property", "The body is not JSON"
                ),
                [],
            )
        if not isinstance(body, dict):
            return (
                *fault(
                    "2020",
                    "Request has invalid or unsupported property",
                    "The body must be a JSON object",
                ),
                [],
            )
        request_id = (query.get("requestid") or [""])[0]
        operation = (query.get("operation") or [""])[0]
        with company.lock:
            if request_id and request_id in company.answered:
                return (*company.answered[request_id], [])
            answer = self._write(company, entity, body, operation, chosen)
            if request_id:
                company.answered[request_id] = answer
        if answer[0] == 200:
            self._notify(company.realm_id, entity, answer[1].get(entity) or {}, operation, body)
        if chosen is not None and chosen.kind == "slow":
            time.sleep(chosen.delay_s)  # the simulated Intuit is slow to answer
        return (*answer, [])

    def _write(
        self,
        company: Company,
        entity: str,
        body: dict[str, Any],
        operation: str,
        chosen: Fault | None,
    ) -> Answer:
        if chosen is not None and chosen.kind == "duplicate_name":
            return fault(
                "6240",
                "Duplicate Name Exists Error",
                "The name supplied already exists.",
                "DisplayName",
            )
        if chosen is not None and chosen.kind == "closed_books":
            return fault("6210", "Account Period Closed", "The account period has closed.")
        if chosen is not None and chosen.kind == "stale_object" and body.get("Id"):
            found = company.records[entity].get(str(body["Id"]))
            if found is not None:
                company.edit(entity, str(body["Id"]), {})
        gone = chosen is not None and chosen.kind == "gone"
        if gone and str(body.get("Id")) in company.records[entity]:
            company.remove(entity, str(body["Id"]))
        if operation in ("delete", "void"):
            return company.delete_or_void(entity, body, operation)
        if operation:
            return fault(
                "2170", "Invalid enumeration", f"Unknown operation {operation}", "operation"
            )
        if body.get("Id"):
            return company.update(entity, body)
        return company.create(entity, body)

    def _cdc(self, company: Company, query: dict[str, list[str]]) -> Answer:
        entities = (query.get("entities") or [""])[0].split(",")
        since_text = (query.get("changedSince") or [""])[0]
        try:
            since = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
        except ValueError:
            return fault(
                "2020", "Required param missing", "changedSince must be a date-time", "changedSince"
            )
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        with company.lock:
            return company.cdc([e for e in entities if e], since)

    def _batch(self, company: Company, raw: bytes, request_id: str) -> Answer:
        """``POST /batch``: at most 30 items, each answered on its own by its ``bId``.
        As Intuit (``connectors.qbo._sender``'s docstring has the sources): a ``requestid``
        (at most 36 characters here, each ``bId`` then at most 10) answers a repeated batch
        with the first answer, whatever the repeat holds; an item does not see what an
        earlier item of the same batch created (a reference to it is 2500)."""
        try:
            items = json.loads(raw or b"{}").get("BatchItemRequest") or []
        except (ValueError, AttributeError):
            return fault("2020", "Request has invalid or unsupported property", "not JSON")
        if len(items) > BATCH_ITEMS:
            return fault(
                "6000",
                "A business validation error has occurred",
                f"Batch has {len(items)} items; at most {BATCH_ITEMS} are allowed",
            )
        if request_id and (
            len(request_id) > BATCH_REQUEST_ID
            or any(len(str(item.get("bId", ""))) > BATCH_ID_WITH_REQUEST_ID for item in items)
        ):
            return fault(
                "2020",
                "Request has invalid or unsupported property",
                f"A batch's requestid has at most {BATCH_REQUEST_ID} characters, and each bId "
                f"then at most {BATCH_ID_WITH_REQUEST_ID}",
                "requestid",
            )
        with company.lock:
            if request_id and request_id in company.answered:
                return company.answered[request_id]
            answer, written, delay = self._batch_items(company, items)
            if request_id:
                company.answered[request_id] = answer
        for entity, stored in written:
            self._notify(company.realm_id, entity, stored, "", {})
        if delay:
            time.sleep(delay)  # the simulated Intuit is slow to answer
        return answer

    def _batch_items(
        self, company: Company, items: list[Any]
    ) -> tuple[Answer, list[tuple[str, dict[str, Any]]], float]:
        """The items, in order, with the company's lock held: the answer, what was created,
        and how long a ``slow`` fault holds the answer back."""
        answers: list[dict[str, Any]] = []
        written: list[tuple[str, dict[str, Any]]] = []
        delay = 0.0
        company.unseen = set()
        try:
            for item in items:
                b_id = str(item.get("bId", ""))
                key = next((k for k in item if k.lower() in ENTITIES), None)
                if "Query" in item:
                    _status, body = company.query(str(item["Query"]))
                elif key is None or not isinstance(item[key], dict):
                    _status, body = fault("2020", "Required param missing", "no entity in the item")
                else:
                    entity = ENTITIES[key.lower()]
                    operation = str(item.get("operation", ""))
                    chosen = self.faults.take(
                        company.realm_id, entity, True, _ITEM_FAULTS, operation=operation
                    )
                    if chosen is not None and chosen.kind == "slow":
                        delay = max(delay, chosen.delay_s)
                    _status, body = self._item(
                        company,
                        entity,
                        dict(item[key]),
                        operation if operation in ("delete", "void") else "",
                        chosen,
                    )
                    stored = body.get(entity)
                    if _status == 200 and isinstance(stored, dict) and not item[key].get("Id"):
                        company.unseen.add(str(stored.get("Id")))
                        written.append((entity, stored))
                body.pop("time", None)
                answers.append({"bId": b_id, **body})
        finally:
            company.unseen = set()
        answer = (200, {"BatchItemResponse": answers, "time": now_text(datetime.now(UTC))})
        return answer, written, delay

    def _item(
        self,
        company: Company,
        entity: str,
        body: dict[str, Any],
        operation: str,
        chosen: Fault | None,
    ) -> Answer:
        if chosen is not None and chosen.kind == "throttle":
            status, answer = _throttled(chosen.retry_after_s)[:2]
            return status, answer
        if chosen is not None and chosen.kind == "server_error":
            return fault(
                "10000",
                "An application error has occurred while processing your request",
                "System Failure Error",
                kind="SystemFault",
                status=500,
            )
        return self._write(company, entity, body, operation, chosen)

    # -- webhooks -------------------------------------------------------------------------

    def _notify(
        self,
        realm_id: str,
        entity: str,
        stored: dict[str, Any],
        operation: str,
        body: dict[str, Any],
    ) -> None:
        url, verifier = self.webhook_url, self.webhook_verifier
        if not url or verifier is None:
            return
        what = {"delete": "Delete", "void": "Void"}.get(
            operation, "Update" if body.get("Id") else "Create"
        )
        payload = json.dumps(
            {
                "eventNotifications": [
                    {
                        "realmId": realm_id,
                        "dataChangeEvent": {
                            "entities": [
                                {
                                    "name": entity,
                                    "id": str(stored.get("Id", body.get("Id", ""))),
                                    "operation": what,
                                    "lastUpdated": now_text(datetime.now(UTC)),
                                }
                            ]
                        },
                    }
                ]
            }
        ).encode()
        signature = sign(payload, verifier)

        def deliver() -> None:
            try:
                httpx2.post(
                    url,
                    content=payload,
                    headers={"intuit-signature": signature, "Content-Type": "application/json"},
                    timeout=10,
                )
            except httpx2.HTTPError:
                log.warning("qbo sandbox webhook not delivered", extra={"realm": realm_id})

        thread = threading.Thread(target=deliver, name="qbo-sandbox-webhook", daemon=True)
        self._hooks.append(thread)
        thread.start()
