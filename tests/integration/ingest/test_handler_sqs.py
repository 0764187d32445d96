"""The ingest handler end to end: a Function URL / HTTP API event in, messages on a real (moto) queue out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from sluice_ingest import runtime
from sluice_ingest.handler import lambda_handler
from sluice_ingest.settings import IngestSettings
from tests.integration.ingest.drain import Drainer
from tests.support.events import load_event
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

CLOSED_PORT_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


@dataclass
class FakeContext:
    function_name: str = "sluice-ingest"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sluice-ingest"
    aws_request_id: str = "lambda-request-1"


@pytest.fixture
def endpoint(sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The function finds the endpoint the standard boto3 way, as it would find LocalStack or AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)
    yield sqs_endpoint
    runtime.configure()


def _post(events: Any) -> tuple[int, dict[str, Any]]:
    event = load_event("function_url_post_events")
    event["body"] = json.dumps(events)
    response = lambda_handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_a_request_of_100_events_lands_on_the_queue(endpoint: str, sqs_client: SQSClient, unique_name: str) -> None:
    queue_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    runtime.configure(IngestSettings(queue_url=queue_url))
    events = [event_dict() for _ in range(100)]

    with Drainer(sqs_client, queue_url) as drainer:
        status, body = _post(events)
        drainer.wait_for(100, timeout=60)

    assert status == 202
    assert body["queued"] == 100
    assert sorted(b["event_id"] for b in drainer.bodies()) == sorted(e["event_id"] for e in events)


def test_an_unreachable_queue_is_503(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", CLOSED_PORT_ENDPOINT)
    runtime.configure(IngestSettings(queue_url=f"{CLOSED_PORT_ENDPOINT}/123456789012/events"))

    status, body = _post([event_dict()])

    assert status == 503
    assert body["error"]["code"] == "queue_unavailable"


def test_a_queue_that_does_not_exist_is_500_without_details(endpoint: str) -> None:
    runtime.configure(IngestSettings(queue_url=f"{endpoint}/123456789012/missing-queue"))

    status, body = _post([event_dict()])

    assert status == 500
    assert body["error"]["code"] == "service_misconfigured"
    assert "missing-queue" not in json.dumps(body)
