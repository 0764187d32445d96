"""The HTTP side: API Gateway HTTP API (payload format 2.0) and Lambda Function URL events in, responses out.

Both integrations send the same event shape (Function URLs follow payload format 2.0), read here through
Powertools' ``APIGatewayProxyEventV2`` data class. Every response is JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

__all__ = ["HttpRequest", "HttpResponse", "is_http_event", "parse_http_event"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One HTTP request: method, path without the stage prefix, lower-case headers, raw body bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    body_error: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A JSON response."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def to_lambda(self) -> dict[str, Any]:
        """The payload format 2.0 response object."""
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json", **self.headers},
            "body": json.dumps(self.body, ensure_ascii=False, separators=(",", ":")),
            "isBase64Encoded": False,
        }


def is_http_event(event: object) -> bool:
    """True for an HTTP API payload 2.0 or Function URL event."""
    if not isinstance(event, dict):
        return False
    context = event.get("requestContext")
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def parse_http_event(event: dict[str, Any]) -> HttpRequest:
    """Read the parts of an HTTP event the ingest function needs; a body that is not valid base64 is noted."""
    proxy = APIGatewayProxyEventV2(event)
    body: bytes | None = None
    body_error: str | None = None
    raw = proxy.body
    if raw is not None:
        if proxy.is_base64_encoded:
            try:
                body = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                body_error = "the body is marked base64-encoded but is not valid base64"
        else:
            body = raw.encode("utf-8", errors="surrogatepass")
    context: dict[str, Any] = event["requestContext"]
    return HttpRequest(
        method=proxy.http_method.upper(),
        path=_path(proxy.raw_path, context.get("stage")),
        headers={name.lower(): value for name, value in (event.get("headers") or {}).items()},
        body=body,
        body_error=body_error,
        request_id=context.get("requestId"),
    )


def _path(raw_path: str, stage: str | None) -> str:
    # HTTP API: a named stage prefixes rawPath ("/prod/events"); the $default stage and Function URLs do not.
    if stage and stage != "$default" and (raw_path == f"/{stage}" or raw_path.startswith(f"/{stage}/")):
        raw_path = raw_path[len(stage) + 1 :]
    return raw_path.rstrip("/") or "/"
