from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from sluice_cli import push as push_module
from sluice_cli.app import main
from sluice_cli.push import check_queue, read_events, summary_lines
from sluice_shared.errors import (
    ConfigurationError,
    InvalidMessageError,
    MalformedMessageError,
    QueueNotFoundError,
    QueueUnavailableError,
)
from sluice_shared.publisher import EventResult, EventStatus, PublishReceipt
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from pathlib import Path

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"


@pytest.fixture
def client() -> Any:
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_json_lines_are_read_with_their_line_numbers(tmp_path: Path) -> None:
    events = [event_dict(), event_dict()]
    path = tmp_path / "events.jsonl"
    path.write_text(f"{json.dumps(events[0])}\n\n{json.dumps(events[1])}\n", encoding="utf-8")

    loaded = read_events(str(path))

    assert loaded.events == events
    assert loaded.labels == ["line 1", "line 3"]


def test_a_json_array_file_is_read_as_events(tmp_path: Path) -> None:
    events = [event_dict(), event_dict()]
    path = tmp_path / "events.json"
    path.write_text("  \n" + json.dumps(events, indent=2), encoding="utf-8")

    loaded = read_events(str(path))

    assert (loaded.events, loaded.labels) == (events, ["event 0", "event 1"])


def test_stdin_is_read_for_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    event = event_dict()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(event).encode())))

    assert read_events("-").events == [event]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"a": 1}\n{"b": \n', "events.jsonl: bad JSON at line 2, column 7: Expecting value"),
        ('[{"a": 1},\n {"b": }]', "events.jsonl: bad JSON at line 2, column 8: Expecting value"),
        ('{"a": NaN}\n', "events.jsonl: bad JSON at line 1: NaN is not a JSON value"),
    ],
)
def test_bad_json_names_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(MalformedMessageError) as caught:
        read_events(str(path))

    assert caught.value.message == f"{tmp_path}/{message}"


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read events: .*/nope.jsonl: no such file$"):
        read_events(str(tmp_path / "nope.jsonl"))


def test_cli_prints_one_line_and_exits_2_for_bad_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n{oops}\n', encoding="utf-8")

    code = main(["push", str(path), "--queue-url", QUEUE_URL])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.splitlines() == [
        f"error: {path}: bad JSON at line 2, column 2: Expecting property name enclosed in double quotes"
    ]
    assert captured.out == ""


def test_dry_run_validates_only_and_reports_rejections(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["push", "--generate", "10", "--invalid-ratio", "0.2", "--seed", "3", "--dry-run"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 2
    assert lines[0] == "dry run: 8 valid, 2 rejected of 10 events; nothing sent"
    assert lines[1] == "rejected:"
    assert len(lines) == 4


def test_push_sends_every_event_and_prints_the_summary(
    client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(push_module, "sqs_client", lambda **_: client)
    ok = {
        "Successful": [{"Id": str(i), "MessageId": f"m-{i}", "MD5OfMessageBody": "x"} for i in range(10)],
        "Failed": [],
    }
    with Stubber(client) as stub:
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": "arn"}},
            {"QueueUrl": QUEUE_URL, "AttributeNames": ["QueueArn"]},
        )
        for _ in range(3):
            stub.add_response("send_message_batch", ok, {"QueueUrl": QUEUE_URL, "Entries": ANY})

        code = main(["push", "--generate", "30", "--queue-url", QUEUE_URL, "--correlation-id", "run-1"])

        stub.assert_no_pending_responses()
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"sent 30, rejected 0, failed 0 of 30 events to {QUEUE_URL}",
        "correlation id: run-1",
    ]


def test_a_missing_queue_is_one_line_before_anything_is_sent(
    client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(push_module, "sqs_client", lambda **_: client)
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_queue_attributes",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
            400,
        )

        code = main(["push", "--generate", "5", "--queue-url", QUEUE_URL])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == ["error: queue does not exist: The specified queue does not exist."]


def test_check_queue_classifies_throttling_as_transient(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("get_queue_attributes", "RequestThrottled", "slow down", 400)
        with pytest.raises(QueueUnavailableError):
            check_queue(client, QUEUE_URL)


def test_check_queue_classifies_a_missing_queue(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("get_queue_attributes", "QueueDoesNotExist", "no such queue", 400)
        with pytest.raises(QueueNotFoundError):
            check_queue(client, QUEUE_URL)


def test_summary_groups_reasons_with_examples() -> None:
    naive = InvalidMessageError.single("occurred_at", "Input should have timezone info")
    down = QueueUnavailableError("queue endpoint unreachable")
    receipt = PublishReceipt(
        (
            EventResult(0, "a", EventStatus.QUEUED, message_id="m-0"),
            EventResult(1, "b", EventStatus.REJECTED, error=naive),
            EventResult(2, "c", EventStatus.REJECTED, error=naive),
            EventResult(3, "d", EventStatus.FAILED, error=down),
        )
    )

    lines = summary_lines(receipt, ["line 1", "line 2", "line 3", "line 4"], destination="q")

    assert lines == [
        "sent 1, rejected 2, failed 1 of 4 events to q",
        "rejected:",
        "  2 x occurred_at: Input should have timezone info (line 2, line 3)",
        "failed:",
        "  1 x queue_unavailable: queue endpoint unreachable (line 4)",
    ]


def test_ratios_without_generate_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["push", "-", "--invalid-ratio", "0.1", "--dry-run"])

    assert code == 2
    assert "--invalid-ratio, --duplicate-ratio and --seed go with --generate" in capsys.readouterr().err
