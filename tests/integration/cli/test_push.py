"""``sluice push`` against the moto server: what lands on the queue, and one clear line for each failure."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import boto3
import pytest

from sluice_cli.app import main
from sluice_cli.generate import generate_events
from sluice_shared.catalog import CATALOG_REGISTRY, default_registry
from sluice_shared.contract import validate_event
from sluice_shared.errors import InvalidMessageError
from tests.integration.ingest.drain import Drainer
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_sqs import SQSClient

CLOSED_PORT_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


def _valid_ids(count: int, *, invalid_ratio: float = 0.0, seed: int) -> list[str]:
    ids = []
    for event in generate_events(count, invalid_ratio=invalid_ratio, seed=seed):
        try:
            ids.append(str(validate_event(event, registry=default_registry()).event_id))
        except InvalidMessageError:
            continue
    return ids


def _without_time(event: dict[str, object]) -> str:
    return json.dumps({k: v for k, v in event.items() if k != "occurred_at"}, sort_keys=True)


@pytest.mark.slow
def test_push_generate_1000_leaves_exactly_those_events_in_the_queue(
    sqs_endpoint: str, sqs_client: SQSClient, unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queue_url, _endpoint = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"], sqs_endpoint

    with Drainer(sqs_client, queue_url) as drainer:
        code = main(
            ["push", "--generate", "1000", "--seed", "41", "--queue-url", queue_url, "--endpoint-url", sqs_endpoint]
        )
        drainer.wait_for(1000)

    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == f"sent 1000, rejected 0, failed 0 of 1000 events to {queue_url}"
    assert sorted(b["event_id"] for b in drainer.bodies()) == sorted(_valid_ids(1000, seed=41))


def test_invalid_generated_events_are_reported_and_not_sent(
    sqs_endpoint: str,
    sqs_client: SQSClient,
    unique_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # generated events are the sample catalog's; some break only its payload models, so validate against it
    monkeypatch.setenv("SLUICE_PAYLOAD_REGISTRY", CATALOG_REGISTRY)
    queue_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    argv = ["push", "--generate", "200", "--invalid-ratio", "0.1", "--seed", "8", "--queue-url", queue_url]

    with Drainer(sqs_client, queue_url) as drainer:
        code = main([*argv, "--endpoint-url", sqs_endpoint])
        drainer.wait_for(180)

    out = capsys.readouterr().out.splitlines()
    assert code == 2
    assert out[0] == f"sent 180, rejected 20, failed 0 of 200 events to {queue_url}"
    assert out[1] == "rejected:"
    assert sum(int(line.split(" x ")[0]) for line in out[2:] if " x " in line) == 20
    assert sorted(b["event_id"] for b in drainer.bodies()) == sorted(_valid_ids(200, invalid_ratio=0.1, seed=8))


def test_skip_validation_sends_invalid_events_as_they_are(
    sqs_endpoint: str, sqs_client: SQSClient, unique_name: str
) -> None:
    queue_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    events = list(generate_events(20, invalid_ratio=0.5, seed=4))
    argv = ["push", "--generate", "20", "--invalid-ratio", "0.5", "--seed", "4", "--skip-validation"]

    with Drainer(sqs_client, queue_url) as drainer:
        code = main([*argv, "--queue-url", queue_url, "--endpoint-url", sqs_endpoint])
        drainer.wait_for(20)

    assert code == 0
    # Sent exactly as generated (occurred_at aside: it is relative to the moment of generation).
    assert sorted(_without_time(b) for b in drainer.bodies()) == sorted(_without_time(e) for e in events)


def test_unreachable_endpoint_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str], aws_environment: None) -> None:
    queue_url = f"{CLOSED_PORT_ENDPOINT}/123456789012/events"

    code = main(["push", "--generate", "5", "--queue-url", queue_url, "--endpoint-url", CLOSED_PORT_ENDPOINT])

    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(err) == 1
    assert re.fullmatch(r'error: queue endpoint unreachable: Could not connect to the endpoint URL: ".*"', err[0])


def test_missing_queue_is_one_line_and_exit_2(sqs_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    queue_url = f"{sqs_endpoint}/123456789012/no-such-queue"

    code = main(["push", "--generate", "5", "--queue-url", queue_url, "--endpoint-url", sqs_endpoint])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == ["error: queue does not exist: The specified queue does not exist."]


def test_missing_credentials_is_one_line_and_exit_2(
    sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookup for credentials
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a fresh CLI process has no cached credentials

    queue_url = f"{sqs_endpoint}/123456789012/q"

    code = main(["push", "--generate", "5", "--queue-url", queue_url, "--endpoint-url", sqs_endpoint])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: no usable AWS credentials for the queue: Unable to locate credentials"
    ]


def test_fifo_push_keeps_each_group_in_order_with_sends_in_flight_together(
    sqs_endpoint: str, sqs_client: SQSClient, unique_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: 300 events over 6 message groups, interleaved, in a JSON Lines file
    queue_url = sqs_client.create_queue(QueueName=f"{unique_name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    events = [event_dict(source=f"group-{i % 6}", payload={"order_id": f"o-{i}", "reason": "x"}) for i in range(300)]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")

    # when: pushed with 4 SendMessageBatch calls in flight
    with Drainer(sqs_client, queue_url, attributes=True) as drainer:
        argv = ["push", str(path), "--queue-url", queue_url, "--endpoint-url", sqs_endpoint, "--concurrency", "4"]
        code = main(argv)
        drainer.wait_for(300)

    # then: every event arrived once, and each group in the order of the file
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == f"sent 300, rejected 0, failed 0 of 300 events to {queue_url}"
    received: dict[str, list[str]] = {}
    for message in drainer.messages:
        body = json.loads(message["Body"])
        assert message["Attributes"]["MessageGroupId"] == body["source"]
        received.setdefault(body["source"], []).append(body["payload"]["order_id"])
    expected: dict[str, list[str]] = {}
    for event in events:
        expected.setdefault(event["source"], []).append(event["payload"]["order_id"])
    assert received == expected


def test_a_json_array_file_is_streamed_to_the_queue(
    sqs_endpoint: str, sqs_client: SQSClient, unique_name: str, tmp_path: Path
) -> None:
    queue_url = sqs_client.create_queue(QueueName=unique_name)["QueueUrl"]
    events = [event_dict() for _ in range(120)]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events, indent=2), encoding="utf-8")

    with Drainer(sqs_client, queue_url) as drainer:
        code = main(["push", str(path), "--queue-url", queue_url, "--endpoint-url", sqs_endpoint])
        drainer.wait_for(120)

    assert code == 0
    assert sorted(b["event_id"] for b in drainer.bodies()) == sorted(e["event_id"] for e in events)
