"""A handler served over HTTP on loopback the way a Lambda Function URL serves it (payload format 2.0).

Each request becomes the event a Function URL sends (lower-case headers with repeated ones joined by commas,
cookies split out, ``rawQueryString`` and ``queryStringParameters``, a ``requestContext`` with ``http``
details, a body that is base64-encoded unless it is text); the handler's answer becomes the HTTP response
(``statusCode``, ``headers``, ``cookies``, ``body``, ``isBase64Encoded``; any other JSON answer is a 200 with
that JSON as body, as Function URLs do). A handler error is a 502, as from a Function URL.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from sluice_cli.context import LocalContext
from sluice_local.sqs_server import LOOPBACK
from sluice_shared.errors import ConfigurationError
from sluice_shared.limits import LAMBDA_SYNC_PAYLOAD_BYTES

__all__ = [
    "FunctionUrlServer",
    "HttpAnswer",
    "function_url_event",
    "http_answer",
]

logger = logging.getLogger(__name__)

URL_ID: Final = "local"
_DISCARD_LIMIT_BYTES: Final = 8 * LAMBDA_SYNC_PAYLOAD_BYTES
_TEXT_TYPES: Final = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")
_TEXT_TYPES_EXACT: Final = ("application/x-www-form-urlencoded",)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What goes back over HTTP: status, headers (repeatable) and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def function_url_event(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    region: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Function URL (payload 2.0) event for one HTTP request."""
    when = now or datetime.now(UTC)
    parts = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(cookie.strip() for cookie in value.split(";") if cookie.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    domain = f"{URL_ID}.lambda-url.{region}.on.aws"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": joined,
    }
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": "anonymous",
        "apiId": URL_ID,
        "domainName": domain,
        "domainPrefix": URL_ID,
        "http": {
            "method": method,
            "path": parts.path or "/",
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(when.timestamp() * 1000),
    }
    event["body"], event["isBase64Encoded"] = _event_body(body, content_type=joined.get("content-type", ""))
    if not body:
        del event["body"]
    return event


def _event_body(body: bytes, *, content_type: str) -> tuple[str, bool]:
    """The event's ``body`` and ``isBase64Encoded``: text types as text, anything else (or bad UTF-8) as base64."""
    if body and _is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # a "text" body that is not UTF-8 reaches the function as bytes, as with a Function URL
    return base64.b64encode(body).decode("ascii"), bool(body)


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        return True  # Function URLs treat a body without a content type as text
    return media in _TEXT_TYPES_EXACT or any(
        media.startswith(kind) if kind.endswith("/") else media.endswith(kind) for kind in _TEXT_TYPES
    )


def http_answer(result: Any) -> HttpAnswer:
    """Translate a handler's return value into the HTTP response a Function URL would send."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        # No statusCode: Function URLs answer 200 with the returned JSON as the body.
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpAnswer(HTTPStatus.OK, (("content-type", "application/json"),), body.encode())
    headers = [(str(name).lower(), str(value)) for name, value in (result.get("headers") or {}).items()]
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or ())
    raw = result.get("body")
    if raw is None:
        payload = b""
    elif result.get("isBase64Encoded"):
        payload = base64.b64decode(str(raw))
    else:
        payload = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    if not any(name == "content-type" for name, _ in headers) and payload:
        headers.append(("content-type", "application/json"))
    return HttpAnswer(int(result["statusCode"]), tuple(headers), payload)


def _error(status: HTTPStatus, message: str) -> HttpAnswer:
    return HttpAnswer(status, (("content-type", "application/json"),), json.dumps({"Message": message}).encode())


class FunctionUrlServer:
    """Serves ``handler`` on ``http://127.0.0.1:<port>/`` from :meth:`start` until :meth:`stop`."""

    def __init__(
        self,
        handler: Handler,
        *,
        port: int = 0,
        function_name: str = "sluice-ingest",
        timeout_seconds: float = 30.0,
        region: str = "us-east-1",
    ) -> None:
        self.handler = handler
        self.port = port
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self.region = region
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:<port>``)."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        """Start serving in a background thread; return :attr:`url`.

        Raises:
            ConfigurationError: the port is taken.
        """
        try:
            server = ThreadingHTTPServer((LOOPBACK, self.port), _request_handler(self))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve {self.function_name} on {LOOPBACK}:{self.port}: {exc.strerror}"
            ) from exc
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="sluice-function-url", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop accepting requests and close the socket (idempotent; requests being answered finish)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def invoke(self, event: dict[str, Any]) -> HttpAnswer:
        """Call the handler with ``event`` and a fresh context; translate its answer (errors become 502)."""
        context = LocalContext(function_name=self.function_name, timeout_s=self.timeout_seconds, region=self.region)
        try:
            result = self.handler(event, context)
        except Exception:  # Lambda: a function error is a 502 from the Function URL
            logger.exception("%s: handler raised", self.function_name)
            return _error(HTTPStatus.BAD_GATEWAY, "Internal Server Error")
        if context.timed_out:
            return _error(HTTPStatus.BAD_GATEWAY, f"Task timed out after {self.timeout_seconds:g} seconds")
        try:
            return http_answer(result)
        except (TypeError, ValueError) as exc:
            logger.error("%s: response cannot be sent over HTTP: %s", self.function_name, exc)  # noqa: TRY400
            return _error(HTTPStatus.BAD_GATEWAY, "Internal Server Error")


def _request_handler(server: FunctionUrlServer) -> type[BaseHTTPRequestHandler]:
    class _FunctionUrlRequest(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a load generator reuses its connection

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > LAMBDA_SYNC_PAYLOAD_BYTES:
                self._discard(length)
                self.close_connection = True
                self._send(_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request must be smaller than 6 MB"))
                return
            body = self.rfile.read(length) if length else b""
            started = time.monotonic()
            event = function_url_event(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                region=server.region,
            )
            answer = server.invoke(event)
            logger.debug("%s %s -> %d in %.3f s", self.command, self.path, answer.status, time.monotonic() - started)
            self._send(answer)

        def _discard(self, length: int) -> None:
            # Read the refused body so the client sees the 413 instead of a broken pipe while still sending.
            remaining = min(length, _DISCARD_LIMIT_BYTES)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    return
                remaining -= len(chunk)

        def _send(self, answer: HttpAnswer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers:
                if name not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            logger.debug("%s - " + format, self.client_address[0], *args)  # noqa: G003

    return _FunctionUrlRequest
