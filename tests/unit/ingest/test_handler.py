from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from sluice_ingest import runtime
from sluice_ingest.handler import lambda_handler
from sluice_ingest.ids import event_id_for_key
from sluice_ingest.settings import IngestSettings
from sluice_shared.catalog import CATALOG_REGISTRY
from sluice_shared.errors import ConfigurationError, MalformedMessageError, QueueNotFoundError, QueueUnavailableError
from sluice_shared.publisher import CORRELATION_ID_ATTRIBUTE
from tests.support.events import load_event
from tests.support.factories import event_dict
from tests.unit.ingest.fakes import FakeSender

if TYPE_CHECKING:
    from collections.abc import Iterator

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"


@dataclass
class FakeContext:
    function_name: str = "sluice-ingest"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sluice-ingest"
    aws_request_id: str = "lambda-request-1"


@pytest.fixture
def sender() -> Iterator[FakeSender]:
    fake = FakeSender(queue_url=QUEUE_URL)
    runtime.configure(IngestSettings(queue_url=QUEUE_URL), sender=fake)
    yield fake
    runtime.configure()


def _call(event: Any) -> Any:
    return lambda_handler(event, FakeContext())


def _http(body: Any, *, sample: str = "function_url_post_events", headers: dict[str, str] | None = None) -> Any:
    event = load_event(sample)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["headers"].update(headers or {})
    response = _call(event)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_single_event_without_id_is_queued_with_a_new_time_ordered_id(sender: FakeSender) -> None:
    response = _call(load_event("apigw_v2_post_events"))

    body = json.loads(response["body"])
    assert response["statusCode"] == 202
    event_id = uuid.UUID(sender.bodies()[0]["event_id"])
    assert event_id.version == 7
    assert body == {
        "queued": 1,
        "rejected": 0,
        "failed": 0,
        "results": [{"index": 0, "event_id": str(event_id), "status": "queued", "message_id": "m-0"}],
        "correlation_id": "JKJaXmPLvHcESHA=",
    }
    assert response["headers"] == {"content-type": "application/json", "x-correlation-id": "JKJaXmPLvHcESHA="}


def test_function_url_array_is_queued_keeping_given_ids(sender: FakeSender) -> None:
    events = [event_dict(), event_dict()]

    status, body, _ = _http(events)

    assert status == 202
    assert [r["event_id"] for r in body["results"]] == [e["event_id"] for e in events]
    assert [b["event_id"] for b in sender.bodies()] == [e["event_id"] for e in events]


def test_base64_encoded_body_is_decoded(sender: FakeSender) -> None:
    event = load_event("function_url_post_events")
    event["body"] = base64.b64encode(json.dumps(event_dict()).encode()).decode()
    event["isBase64Encoded"] = True

    assert _call(event)["statusCode"] == 202
    assert len(sender.sent) == 1


def test_idempotency_key_gives_a_retry_the_same_event_id(sender: FakeSender) -> None:
    single = {k: v for k, v in event_dict().items() if k != "event_id"}

    first = _http(single, headers={"idempotency-key": "order-o-1-cancel"})
    retry = _http(single, headers={"Idempotency-Key": "order-o-1-cancel"})
    other = _http(single, headers={"idempotency-key": "order-o-2-cancel"})

    expected = str(event_id_for_key("order-o-1-cancel"))
    assert [r[1]["results"][0]["event_id"] for r in (first, retry)] == [expected, expected]
    assert other[1]["results"][0]["event_id"] != expected


def test_idempotency_key_with_an_array_is_a_bad_request(sender: FakeSender) -> None:
    status, body, _ = _http([event_dict()], headers={"idempotency-key": "k"})

    assert status == 400
    assert body["error"]["code"] == "idempotency_key_with_array"
    assert sender.sent == []


def test_some_rejected_events_give_a_multi_status_with_field_errors(sender: FakeSender) -> None:
    good = event_dict()
    naive = event_dict(occurred_at="2026-11-26T12:00:00")

    status, body, _ = _http([good, naive])

    assert status == 207
    assert (body["queued"], body["rejected"], body["failed"]) == (1, 1, 0)
    assert body["results"][1] == {
        "index": 1,
        "event_id": naive["event_id"],
        "status": "rejected",
        "error": {
            "code": "invalid_message",
            "message": "occurred_at: Input should have timezone info",
            "fields": [{"field": "occurred_at", "reason": "Input should have timezone info"}],
        },
    }
    assert [b["event_id"] for b in sender.bodies()] == [good["event_id"]]


def test_all_invalid_events_give_422_with_field_level_errors(sender: FakeSender) -> None:
    # the second is invalid only against a payload model: the sample catalog's order.cancelled needs a reason
    runtime.configure(IngestSettings(queue_url=QUEUE_URL, payload_registry=CATALOG_REGISTRY), sender=sender)

    status, body, _ = _http([event_dict(surprise=1), event_dict(payload={"order_id": "o-1"})])

    assert status == 422
    assert body["error"]["code"] == "invalid_events"
    assert [r["error"]["fields"] for r in body["results"]] == [
        [{"field": "surprise", "reason": "unknown field: the envelope allows only its documented fields"}],
        [{"field": "payload.reason", "reason": "Field required"}],
    ]
    assert sender.sent == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"event_type": "a.b",\n "source": }', "the body is not valid JSON: Expecting value at line 2 column 12"),
        ('{"x": NaN}', "the body is not valid JSON: NaN is not a JSON value"),
        ('"just a string"', "the body must be one event (an object) or an array of events"),
        ("[]", "the array holds no events"),
        ("   ", "the body is empty: send one event or a JSON array of events"),
    ],
)
def test_malformed_bodies_are_answered_400_with_the_reason(sender: FakeSender, raw: str, message: str) -> None:
    status, body, _ = _http(raw)

    assert status == 400
    assert body["error"]["message"] == message
    assert sender.sent == []


def test_invalid_base64_is_a_bad_request(sender: FakeSender) -> None:
    event = load_event("function_url_post_events")
    event["body"], event["isBase64Encoded"] = "%%%not base64", True

    response = _call(event)

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "malformed_request"


def test_more_events_than_the_maximum_is_413(sender: FakeSender) -> None:
    runtime.configure(IngestSettings(queue_url=QUEUE_URL, max_events=2), sender=sender)

    status, body, _ = _http([event_dict() for _ in range(3)])

    assert status == 413
    assert body["error"] == {"code": "too_many_events", "message": "3 events in one request; the limit is 2"}


def test_unreachable_queue_is_503_with_retry_after_and_no_internals(sender: FakeSender) -> None:
    sender.error = QueueUnavailableError("queue endpoint unreachable: Could not connect to http://10.0.0.7/q")

    status, body, headers = _http([event_dict()])

    assert status == 503
    assert headers["retry-after"] == "1"
    assert body["error"] == {"code": "queue_unavailable", "message": "the queue is unreachable: retry later"}
    assert "10.0.0.7" not in json.dumps(body)


def test_missing_queue_is_a_500_that_reveals_nothing(sender: FakeSender) -> None:
    sender.error = QueueNotFoundError("queue does not exist: arn:aws:sqs:us-east-1:123456789012:events")

    status, body, _ = _http([event_dict()])

    assert status == 500
    assert body["error"]["code"] == "service_misconfigured"
    assert "arn:aws" not in json.dumps(body)


def test_missing_queue_setting_is_a_500_not_a_crash() -> None:
    runtime.configure(IngestSettings(queue_url=None))
    try:
        status, body, _ = _http([event_dict()])
    finally:
        runtime.configure()

    assert status == 500
    assert body["error"]["code"] == "service_misconfigured"


def test_named_stage_prefix_is_stripped_and_other_routes_are_404_or_405(sender: FakeSender) -> None:
    staged = load_event("apigw_v2_post_events_named_stage")
    staged["body"] = json.dumps([event_dict()])
    wrong_path = load_event("function_url_post_events")
    wrong_path["rawPath"] = "/other"
    wrong_method = load_event("function_url_post_events")
    wrong_method["requestContext"]["http"]["method"] = "GET"

    statuses = [_call(e)["statusCode"] for e in (staged, wrong_path, wrong_method)]

    assert statuses == [202, 404, 405]
    assert _call(wrong_method)["headers"]["allow"] == "POST"


def test_correlation_id_header_is_honoured_and_carried_as_an_attribute(sender: FakeSender) -> None:
    _, body, headers = _http([event_dict()], headers={"x-correlation-id": "checkout-42"})

    assert body["correlation_id"] == headers["x-correlation-id"] == "checkout-42"
    assert sender.sent[0].attributes == {CORRELATION_ID_ATTRIBUTE: {"DataType": "String", "StringValue": "checkout-42"}}


def test_trace_header_is_sent_when_tracing_is_on(sender: FakeSender, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    runtime.configure(IngestSettings(queue_url=QUEUE_URL, tracing=True), sender=sender)

    _http([event_dict()])

    assert sender.sent[0].trace_header == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"


def test_direct_invocation_with_a_list_returns_the_receipt(sender: FakeSender) -> None:
    events = [event_dict(), {"event_type": "bad"}]

    receipt = _call(events)

    assert (receipt["queued"], receipt["rejected"], receipt["failed"]) == (1, 1, 0)
    assert receipt["results"][0] == {
        "index": 0,
        "event_id": events[0]["event_id"],
        "status": "queued",
        "message_id": "m-0",
    }


def test_direct_invocation_raises_when_events_could_not_be_queued(sender: FakeSender) -> None:
    sender.error = QueueUnavailableError("queue endpoint unreachable")

    with pytest.raises(QueueUnavailableError, match=r"^1 of 1 events could not be queued: queue endpoint unreachable$"):
        _call([event_dict()])


def test_unsupported_invocation_is_a_clear_error(sender: FakeSender) -> None:
    with pytest.raises(MalformedMessageError, match="unsupported invocation"):
        _call({"hello": "world"})


def test_an_invalid_setting_is_a_configuration_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_INGEST_MAX_EVENTS", "lots")
    runtime.configure()

    with pytest.raises(ConfigurationError, match=r"invalid ingest settings: (.|\n)*SLUICE_INGEST_MAX_EVENTS"):
        runtime.get_settings()


def test_unusable_settings_answer_an_http_client_with_a_json_500(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_INGEST_MAX_EVENTS", "0")
    runtime.configure()
    try:
        status, body, headers = _http([event_dict()])
    finally:
        runtime.configure()

    assert status == 500
    assert body == {
        "error": {
            "code": "service_misconfigured",
            "message": "the service cannot queue events right now; its operators have been alerted",
        },
        "correlation_id": "lambda-request-1",
    }
    assert headers["x-correlation-id"] == "lambda-request-1"
