from __future__ import annotations

import json

from sluice_ingest.api import HttpRequest
from sluice_ingest.logic import IngestLimits, handle_request
from sluice_shared.publisher import EventPublisher
from tests.support.factories import event_dict
from tests.unit.ingest.fakes import FakeSender


def _request(body: bytes) -> HttpRequest:
    return HttpRequest(method="POST", path="/events", headers={}, body=body)


def test_a_body_over_the_limit_is_413_and_nothing_is_sent() -> None:
    sender = FakeSender()
    body = json.dumps([event_dict() for _ in range(3)]).encode()

    response, receipt = handle_request(
        _request(body),
        publisher=lambda: EventPublisher(sender),
        limits=IngestLimits(max_events=10, max_body_bytes=len(body) - 1),
        correlation_id="c-1",
    )

    assert response.status == 413
    assert response.body == {
        "error": {"code": "body_too_large", "message": f"the body is {len(body)} bytes; the limit is {len(body) - 1}"}
    }
    assert receipt is None
    assert sender.sent == []


def test_a_body_that_is_not_utf8_is_400() -> None:
    response, _ = handle_request(
        _request(b'{"a": "\xff"}'),
        publisher=lambda: EventPublisher(FakeSender()),
        limits=IngestLimits(max_events=10, max_body_bytes=1000),
        correlation_id="c-1",
    )

    assert (response.status, response.body["error"]["message"]) == (400, "the body is not UTF-8 text")
