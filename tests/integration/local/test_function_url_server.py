"""A handler served over real HTTP on loopback as a Lambda Function URL serves it."""

from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING

import pytest

from sluice_local.function_url import FunctionUrlServer
from sluice_shared.limits import LAMBDA_SYNC_PAYLOAD_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture
def serve() -> Iterator[Callable[..., FunctionUrlServer]]:
    servers: list[FunctionUrlServer] = []

    def start(handler) -> FunctionUrlServer:
        server = FunctionUrlServer(handler)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def request(server: FunctionUrlServer, method: str, path: str, body: bytes = b"", **headers: str):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_post_reaches_the_handler_as_an_event_and_its_answer_comes_back(serve):
    seen = []

    def handler(event, context):
        seen.append((event, context.function_name, context.get_remaining_time_in_millis() > 0))
        return {"statusCode": 202, "headers": {"x-seen": event["rawPath"]}, "body": json.dumps({"ok": True})}

    server = serve(handler)

    status, headers, body = request(server, "POST", "/events?x=1", b'{"a": 1}', **{"Content-Type": "application/json"})

    assert (status, headers["x-seen"], json.loads(body)) == (202, "/events", {"ok": True})
    [(event, function_name, had_time)] = seen
    assert (event["body"], event["queryStringParameters"], event["requestContext"]["http"]["method"]) == (
        '{"a": 1}',
        {"x": "1"},
        "POST",
    )
    assert (function_name, had_time) == ("sluice-ingest", True)


def test_a_handler_error_is_a_502(serve):
    def handler(event, context):
        raise RuntimeError("broken")

    status, _, body = request(serve(handler), "POST", "/", b"{}")

    assert (status, json.loads(body)) == (502, {"Message": "Internal Server Error"})


def test_a_request_over_6_mb_is_refused_with_413_before_the_handler_runs(serve):
    calls = []
    server = serve(lambda event, _: calls.append(event))

    status, _, _ = request(server, "POST", "/", b"x" * (LAMBDA_SYNC_PAYLOAD_BYTES + 1))

    assert (status, calls) == (413, [])
