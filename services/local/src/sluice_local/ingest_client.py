"""The demo's HTTP client for the ingest Function URL, and what one request's answer says about each event."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import urlsplit

from sluice_shared.errors import QueueUnavailableError

__all__ = ["IngestClient", "RequestOutcome", "request_outcome"]

HTTP_TIMEOUT_SECONDS: Final = 60
HTTP_DEFAULT_PORT: Final = 80


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What ingest did with each event of one request: queued (with its ``event_id``), rejected or failed."""

    status: int
    queued: tuple[tuple[int, str], ...]
    rejected: tuple[int, ...]
    failed: tuple[int, ...]


class IngestClient:
    """POSTs batches of events to the ingest URL over one keep-alive HTTP connection."""

    def __init__(self, url: str, *, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or HTTP_DEFAULT_PORT
        self._path = parts.path or "/"
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def post(self, events: Sequence[Mapping[str, Any]]) -> tuple[int, bytes]:
        """Send ``events`` as one JSON array; return the status and body.

        Raises:
            QueueUnavailableError: the endpoint could not be reached (transient).
        """
        body = json.dumps(list(events)).encode()
        for attempt in (1, 2):
            connection = self._connection or http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._connection = connection
            try:
                connection.request("POST", self._path, body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 2:  # noqa: PLR2004 - one retry on a fresh connection (the old one may have idled out)
                    raise QueueUnavailableError(f"ingest endpoint unreachable: {exc}") from exc
        raise QueueUnavailableError("ingest endpoint unreachable")  # pragma: no cover - the loop returns or raises

    def close(self) -> None:
        """Close the connection (a later post opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def request_outcome(status: int, body: bytes, count: int) -> RequestOutcome:
    """What ingest did with each of the ``count`` events of one request, from its HTTP answer.

    The answer lists one result per event (``index``, ``event_id``, ``status``: queued, rejected or failed).
    Without results, a 4xx means every event was refused and anything else that none was queued.
    """
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = {}
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != count:
        everything = tuple(range(count))
        if HTTPStatus.BAD_REQUEST <= status < HTTPStatus.INTERNAL_SERVER_ERROR:
            return RequestOutcome(status, queued=(), rejected=everything, failed=())
        return RequestOutcome(status, queued=(), rejected=(), failed=everything)
    queued: list[tuple[int, str]] = []
    rejected: list[int] = []
    failed: list[int] = []
    for position, result in enumerate(results):
        kind = result.get("status") if isinstance(result, dict) else None
        if kind == "queued":
            queued.append((position, str(result.get("event_id"))))
        elif kind == "rejected":
            rejected.append(position)
        else:
            failed.append(position)
    return RequestOutcome(status, queued=tuple(queued), rejected=tuple(rejected), failed=tuple(failed))
