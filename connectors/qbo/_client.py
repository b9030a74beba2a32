"""Send one request to QBO with everything Intuit asks of a client: the realm's limits, a
fresh access token (refreshed once on 401), ``minorversion``, the write's ``requestid``, and
retries on time-outs, 429 (waiting ``Retry-After``, for the whole realm) and 5xx with
jittered exponential backoff. A write is always retried with the same ``requestid``, so a
request that reached Intuit before the time-out is answered with its first result instead of
being applied twice (``../shared/qbo/README.md``, "Requests").

Only ids, paths and codes are logged; never bodies or tokens.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2
from pydantic import SecretStr

from connectors.qbo._limits import RealmLimits
from connectors.qbo._oauth import ReconnectNeeded
from connectors.qbo._records import QboRequest, QboResponse
from core.errors import QbsyncError

__all__ = ["RETRYABLE_STATUSES", "ClientConfig", "QboClient", "QboUnavailable", "TokenSource"]

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class TokenSource(Protocol):
    def access_token(self, realm_id: str) -> tuple[SecretStr, int]: ...

    def refreshed(self, realm_id: str, stale_version: int) -> tuple[SecretStr, int]: ...


class QboUnavailable(QbsyncError):
    """Every attempt timed out or was throttled or failed on Intuit's side: nothing is known
    to be done; the caller stops for this realm and tries later (same ``requestid``)."""

    def __init__(self, message: str, last: QboResponse | None = None) -> None:
        super().__init__(message)
        self.last = last


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    minor_version: str = "75"
    attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0


def backoff(attempt: int, base_s: float, max_s: float, jitter: float) -> float:
    """``base · 2^(attempt-1)``, capped, scaled by ``jitter`` in [0.5, 1]."""
    return float(min(max_s, base_s * 2 ** (attempt - 1)) * (0.5 + jitter / 2))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from Intuit; the backoff applies instead


class QboClient:
    def __init__(
        self,
        config: ClientConfig,
        http: httpx2.Client,
        tokens: TokenSource,
        limits: RealmLimits,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._http = http
        self._tokens = tokens
        self._limits = limits
        self._sleep = sleep
        self._jitter = jitter

    def wait_s(self, realm_id: str, batch: bool = False) -> float:
        """How long the realm's limiter would hold the next request (a batch request:
        ``batch``) (its minute is full, or Intuit asked to wait): a sender drains another
        company meanwhile."""
        return self._limits(realm_id).wait_s(batch)

    def send(self, request: QboRequest) -> QboResponse:
        if request.is_write and not request.request_id:
            raise ValueError("every QBO write needs a requestid (QboRequest.request_id)")
        limiter = self._limits(request.realm_id)
        refreshed = False
        last: QboResponse | None = None
        reason = ""
        attempt = 0
        while attempt < self._config.attempts:
            attempt += 1
            token, version = self._tokens.access_token(request.realm_id)
            try:
                with limiter.slot(batch=request.is_batch):
                    response = self._call(request, token)
            except httpx2.TransportError as exc:  # time-outs included
                reason = type(exc).__name__
                log.warning(
                    "qbo request failed in transport",
                    extra={"realm": request.realm_id, "path": request.path, "error": reason},
                )
                self._sleep(self._delay(attempt, None))
                continue
            if response.status == 401 and not refreshed:
                refreshed = True
                attempt -= 1  # a refresh is not a failed attempt
                self._tokens.refreshed(request.realm_id, version)
                continue
            if response.status == 401:
                raise ReconnectNeeded(
                    f"realm {request.realm_id}: Intuit refused a freshly refreshed token"
                )
            if response.status not in RETRYABLE_STATUSES:
                return response
            last, reason = response, f"HTTP {response.status}"
            delay = self._delay(attempt, response.retry_after_s)
            log.info(
                "qbo request throttled or failed, backing off",
                extra={"realm": request.realm_id, "status": response.status, "delay_s": delay},
            )
            if response.status == 429:
                limiter.pause(delay)  # every thread of this realm waits it out
            else:
                self._sleep(delay)
        raise QboUnavailable(
            f"realm {request.realm_id}: no answer after {self._config.attempts} attempts "
            f"({reason})",
            last,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return backoff(
            attempt, self._config.backoff_base_s, self._config.backoff_max_s, self._jitter()
        )

    def _call(self, request: QboRequest, token: SecretStr) -> QboResponse:
        params: list[tuple[str, str | int | float | bool | None]] = [
            *request.params,
            ("minorversion", self._config.minor_version),
        ]
        if request.request_id:
            params.append(("requestid", request.request_id))
        kwargs: dict[str, Any] = {}
        if request.body is not None:
            kwargs["json"] = request.body
        answer = self._http.request(
            request.method,
            f"{self._config.base_url}/v3/company/{request.realm_id}/{request.path}",
            params=params,
            headers={
                "Authorization": f"Bearer {token.get_secret_value()}",
                "Accept": "application/json",
            },
            **kwargs,
        )
        try:
            body = answer.json()
        except ValueError:
            body = {}
        return QboResponse(
            status=answer.status_code,
            body=body if isinstance(body, dict) else {},
            retry_after_s=_retry_after(answer.headers.get("Retry-After")),
            intuit_tid=answer.headers.get("intuit_tid"),
        )
