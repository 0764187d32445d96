"""What the ingest function does with a request: parse, assign ids, publish, and map the receipt to a status.

Status codes: 202 every event queued; 207 some queued, some rejected or failed; 422 every event invalid (with
field-level errors); 400 malformed JSON or request; 413 body or event count over the limit; 503 the queue is
unreachable (retry later); 500 the function is misconfigured (missing queue, access denied: details are
logged, never returned). 404/405 for other paths and methods. Never a stack trace in a response.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from sluice_ingest.api import HttpRequest, HttpResponse, is_http_event, parse_http_event
from sluice_ingest.ids import event_id_for_key
from sluice_shared.errors import (
    ConfigurationError,
    MalformedMessageError,
    QueueUnavailableError,
    SluiceError,
    TransientError,
)
from sluice_shared.ids import lacks_event_id, with_event_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from uuid import UUID

    from sluice_shared.publisher import PublishReceipt

__all__ = [
    "EVENTS_PATH",
    "IDEMPOTENCY_KEY_HEADER",
    "CorrelationIdPolicy",
    "IngestLimits",
    "IngestOutcome",
    "Publisher",
    "handle_invocation",
    "handle_request",
    "misconfigured",
    "response_for",
]

EVENTS_PATH: Final = "/events"
IDEMPOTENCY_KEY_HEADER: Final = "idempotency-key"
IDEMPOTENCY_KEY_MAX_LENGTH: Final = 255
CORRELATION_ID_HEADER_OUT: Final = "x-correlation-id"
# Echoed into logs, attributes and response headers: printable ASCII only, bounded.
_SAFE_TOKEN: Final = re.compile(r"^[\x21-\x7e]{1,128}$")
RETRY_AFTER_SECONDS: Final = "1"


class Publisher(Protocol):
    """Publishes events; :class:`sluice_shared.publisher.EventPublisher` is the real one."""

    def publish(
        self,
        events: Iterable[Any],
        *,
        correlation_id: str | None = None,
        trace_header: str | None = None,
    ) -> PublishReceipt:
        """Validate and send; one result per event."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestLimits:
    """How much one request may carry."""

    max_events: int
    max_body_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationIdPolicy:
    """Where the correlation id comes from: a request header, else the API request id, else the invocation's."""

    header: str
    fallback: str


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What to return to Lambda, the receipt when events were published, and an error worth logging."""

    response: Any
    receipt: PublishReceipt | None
    correlation_id: str
    error: SluiceError | None = None
    reraise: bool = False
    """Raise ``error`` after logging it (direct invocations), instead of returning ``response``."""


class _RequestError(Exception):
    """A request answered with an error status before anything is published."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = _error(status, code, message)


def handle_invocation(
    event: Any,
    *,
    publisher: Callable[[], Publisher],
    limits: IngestLimits,
    correlation: CorrelationIdPolicy,
    trace_header: str | None = None,
) -> IngestOutcome:
    """Serve one invocation: an HTTP event gets an HTTP response; a list of events gets the receipt.

    ``publisher`` is called only when there is something to publish, so a misconfigured function still
    answers malformed requests correctly and answers the rest with a 500 that reveals nothing.

    Raises:
        ConfigurationError: a direct invocation while the function is misconfigured.
        MalformedMessageError: a direct invocation that is neither an HTTP event nor a list of events.

    A direct invocation in which some events could not be queued returns the queue's error with ``reraise``
    set: the handler raises it, so the caller (or Lambda's asynchronous retries) sees the failure.
    """
    if is_http_event(event):
        request = parse_http_event(event)
        correlation_id = _correlation_id(request, correlation)
        error: SluiceError | None = None
        try:
            response, receipt = handle_request(
                request, publisher=publisher, limits=limits, correlation_id=correlation_id, trace_header=trace_header
            )
        except ConfigurationError as exc:
            response, receipt, error = _misconfigured(), None, exc
        response.headers[CORRELATION_ID_HEADER_OUT] = correlation_id
        response.body["correlation_id"] = correlation_id
        return IngestOutcome(response.to_lambda(), receipt, correlation_id, error)
    if isinstance(event, list):
        receipt = publisher().publish(event, correlation_id=correlation.fallback, trace_header=trace_header)
        failure: SluiceError | None = None
        if receipt.failed:
            first = receipt.failed[0].error or QueueUnavailableError("the queue did not take the events")
            summary = f"{len(receipt.failed)} of {len(receipt.results)} events could not be queued: {first}"
            failure = type(first)(summary)
            failure.__cause__ = first
        return IngestOutcome(receipt.to_dict(), receipt, correlation.fallback, failure, reraise=True)
    raise MalformedMessageError.single(
        None, "unsupported invocation: expected an HTTP API / Function URL event or a list of events"
    )


def handle_request(
    request: HttpRequest,
    *,
    publisher: Callable[[], Publisher],
    limits: IngestLimits,
    correlation_id: str,
    trace_header: str | None = None,
) -> tuple[HttpResponse, PublishReceipt | None]:
    """Route and serve one HTTP request; the receipt is ``None`` when nothing was published.

    Raises:
        ConfigurationError: the publisher cannot be built (the caller answers 500).
    """
    if request.path != EVENTS_PATH:
        return _error(404, "not_found", f"nothing at {request.path}: POST events to {EVENTS_PATH}"), None
    if request.method != "POST":
        response = _error(405, "method_not_allowed", f"{request.method} is not allowed: POST events here")
        response.headers["allow"] = "POST"
        return response, None
    try:
        events = _read_events(request, limits)
    except _RequestError as exc:
        return exc.response, None
    receipt = publisher().publish(events, correlation_id=correlation_id, trace_header=trace_header)
    return response_for(receipt), receipt


def response_for(receipt: PublishReceipt) -> HttpResponse:
    """The HTTP status and body for a receipt (queue-side error details are not exposed)."""
    body = receipt.to_dict(expose_failures=False)
    queued, rejected, failed = receipt.queued, receipt.rejected, receipt.failed
    if failed and not queued:
        if all(isinstance(result.error, TransientError) for result in failed):
            body["error"] = {"code": "queue_unavailable", "message": "the queue is unreachable: retry later"}
            return HttpResponse(503, body, {"retry-after": RETRY_AFTER_SECONDS})
        return HttpResponse(500, {**body, "error": _MISCONFIGURED})
    if failed or rejected:
        if queued:
            return HttpResponse(207, body)
        body["error"] = {"code": "invalid_events", "message": "no event was queued: each one breaks the contract"}
        return HttpResponse(422, body)
    return HttpResponse(202, body)


_MISCONFIGURED: Final = {
    "code": "service_misconfigured",
    "message": "the service cannot queue events right now; its operators have been alerted",
}


def misconfigured(event: Any, error: ConfigurationError, *, correlation_id: str) -> IngestOutcome:
    """The outcome for a function that cannot be configured: a JSON 500 for HTTP events, else the error.

    Raises:
        ConfigurationError: ``error``, for a direct invocation.
    """
    if not is_http_event(event):
        raise error
    response = _misconfigured()
    response.headers[CORRELATION_ID_HEADER_OUT] = correlation_id
    response.body["correlation_id"] = correlation_id
    return IngestOutcome(response.to_lambda(), None, correlation_id, error)


def _misconfigured() -> HttpResponse:
    return HttpResponse(500, {"error": dict(_MISCONFIGURED)})


def _error(status: int, code: str, message: str) -> HttpResponse:
    return HttpResponse(status, {"error": {"code": code, "message": message}})


def _read_events(request: HttpRequest, limits: IngestLimits) -> list[Any]:
    if request.body_error:
        raise _RequestError(400, "malformed_request", request.body_error)
    if not request.body or not request.body.strip():
        raise _RequestError(400, "empty_body", "the body is empty: send one event or a JSON array of events")
    if len(request.body) > limits.max_body_bytes:
        raise _RequestError(
            413, "body_too_large", f"the body is {len(request.body)} bytes; the limit is {limits.max_body_bytes}"
        )
    document = _parse_json(request.body)
    key = _idempotency_key(request)
    if isinstance(document, dict):
        return [_with_event_id(document, event_id_for_key(key) if key else None)]
    if not isinstance(document, list):
        raise _RequestError(400, "malformed_request", "the body must be one event (an object) or an array of events")
    if not document:
        raise _RequestError(400, "empty_body", "the array holds no events")
    if len(document) > limits.max_events:
        raise _RequestError(
            413, "too_many_events", f"{len(document)} events in one request; the limit is {limits.max_events}"
        )
    if key:
        raise _RequestError(
            400,
            "idempotency_key_with_array",
            "Idempotency-Key applies to a single event: give each event of an array its own event_id",
        )
    return [_with_event_id(event, None) for event in document]


class _RepeatedKeyError(ValueError):
    """An object in the body has the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise _RequestError(400, "malformed_json", "the body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        # Some of json's messages end in "at" already ("Invalid control character at").
        where = f"{exc.msg.removesuffix(' at')} at line {exc.lineno} column {exc.colno}"
        raise _RequestError(400, "malformed_json", f"the body is not valid JSON: {where}") from exc
    except _RepeatedKeyError as exc:
        raise _RequestError(
            400,
            "malformed_json",
            f"an object in the body repeats the key {exc.key!r}; JSON parsers disagree on which value wins, "
            "so the body is refused rather than queued with a value its producer may not have meant",
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise _RequestError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc


def _reject_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (RFC 8259) has no such values.
    raise ValueError(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # The consumer refuses repeated keys too (sluice_shared.contract): the door must not resolve them silently.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return document


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable() or not key.isascii():
        raise _RequestError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters",
        )
    return key


def _with_event_id(event: Any, derived: UUID | None) -> Any:
    """The event with an ``event_id``: its own, else the Idempotency-Key's, else a new UUIDv7."""
    return with_event_id(event, derived) if lacks_event_id(event) else event


def _correlation_id(request: HttpRequest, policy: CorrelationIdPolicy) -> str:
    supplied = request.headers.get(policy.header.lower())
    if supplied and _SAFE_TOKEN.fullmatch(supplied):
        return supplied
    return request.request_id or policy.fallback
