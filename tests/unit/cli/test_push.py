from __future__ import annotations

import io
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from sluice_cli import push as push_module
from sluice_cli.app import main
from sluice_cli.push import check_queue
from sluice_shared.errors import QueueNotFoundError, QueueUnavailableError
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/events"


@pytest.fixture
def client() -> Any:
    return boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


class FakeSqs:
    """The two SQS calls ``sluice push`` makes, in memory: accepts every entry and keeps its body."""

    def __init__(self, on_send: Callable[[], None] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0
        self._on_send = on_send
        self._lock = threading.Lock()

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:events"}}

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        assert QueueUrl == QUEUE_URL
        if self._on_send is not None:
            self._on_send()
        with self._lock:
            self.calls += 1
            self.bodies.extend(json.loads(entry["MessageBody"]) for entry in Entries)
        successful = [{"Id": e["Id"], "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": "x"} for e in Entries]
        return {"Successful": successful, "Failed": []}


@pytest.fixture
def fake_sqs(monkeypatch: pytest.MonkeyPatch) -> FakeSqs:
    fake = FakeSqs()
    monkeypatch.setattr(push_module, "sqs_client", lambda **_: fake)
    return fake


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


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

        argv = ["push", "--generate", "30", "--queue-url", QUEUE_URL, "--correlation-id", "run-1", "--concurrency", "1"]
        code = main(argv)

        stub.assert_no_pending_responses()
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"sent 30, rejected 0, failed 0 of 30 events to {QUEUE_URL}",
        "correlation id: run-1",
    ]


def test_events_without_an_event_id_get_a_uuid7_and_the_summary_counts_them(
    fake_sqs: FakeSqs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: one event with its own id, one without, one with a null id
    own = event_dict()
    missing = {k: v for k, v in event_dict().items() if k != "event_id"}
    null = {**event_dict(), "event_id": None}
    path = _write_lines(tmp_path / "events.jsonl", [json.dumps(e) for e in (own, missing, null)])

    code = main(["push", str(path), "--queue-url", QUEUE_URL, "--correlation-id", "c"])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"sent 3, rejected 0, failed 0 of 3 events to {QUEUE_URL}",
        "event ids assigned: 2 (events without one get a new UUIDv7, as at ingest)",
        "correlation id: c",
    ]
    ids = {body["event_id"] for body in fake_sqs.bodies}
    assert own["event_id"] in ids
    assigned = [uuid.UUID(i) for i in ids - {own["event_id"]}]
    assert [i.version for i in assigned] == [7, 7]


def test_dry_run_says_how_many_events_would_get_an_id(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = {k: v for k, v in event_dict().items() if k != "event_id"}
    path = _write_lines(tmp_path / "events.jsonl", [json.dumps(missing), json.dumps(event_dict())])

    code = main(["push", str(path), "--dry-run"])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "dry run: 2 valid, 0 rejected of 2 events; nothing sent",
        "events without an event_id: 1 (a push gives each a new UUIDv7, as ingest does)",
    ]


def test_skip_validation_sends_an_event_without_id_as_it_is(fake_sqs: FakeSqs, tmp_path: Path) -> None:
    missing = {k: v for k, v in event_dict().items() if k != "event_id"}
    path = _write_lines(tmp_path / "events.jsonl", [json.dumps(missing)])

    code = main(["push", str(path), "--queue-url", QUEUE_URL, "--skip-validation"])

    assert code == 0
    assert fake_sqs.bodies == [missing]


def test_a_bad_json_line_is_rejected_by_number_and_the_rest_still_go(
    fake_sqs: FakeSqs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [event_dict(), event_dict()]
    path = _write_lines(tmp_path / "events.jsonl", [json.dumps(good[0]), "{oops}", json.dumps(good[1])])

    code = main(["push", str(path), "--queue-url", QUEUE_URL, "--correlation-id", "c"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out.splitlines() == [
        f"sent 2, rejected 1, failed 0 of 3 events to {QUEUE_URL}",
        "rejected:",
        "  1 x bad JSON: Expecting property name enclosed in double quotes (line 2)",
        "correlation id: c",
    ]
    assert captured.err == ""
    assert sorted(b["event_id"] for b in fake_sqs.bodies) == sorted(e["event_id"] for e in good)


def test_a_broken_json_array_sends_what_came_before_and_says_where_it_stopped(
    fake_sqs: FakeSqs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [event_dict(), event_dict()]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(good)[:-1] + ', {"event_id": ]', encoding="utf-8")

    code = main(["push", str(path), "--queue-url", QUEUE_URL, "--correlation-id", "c"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out.splitlines()[0] == f"sent 2, rejected 0, failed 0 of 2 events to {QUEUE_URL}"
    assert captured.err.splitlines() == [
        (
            f"error: {path}: bad JSON in the array after event 1 (near byte {path.stat().st_size}): "
            "parse error: unallowed token at this point in JSON text; the input was read up to there"
        )
    ]
    assert len(fake_sqs.bodies) == 2


def test_push_streams_sending_before_the_input_is_read_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: 5,000 events (~1.3 MB) on stdin, and a queue that notes how far stdin was read at its first call
    stdin = io.BytesIO(b"".join(json.dumps(event_dict()).encode() + b"\n" for _ in range(5_000)))
    read_at_first_send: list[int] = []
    fake = FakeSqs(on_send=lambda: read_at_first_send.append(stdin.tell()) if not read_at_first_send else None)
    monkeypatch.setattr(push_module, "sqs_client", lambda **_: fake)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(stdin))

    code = main(["push", "-", "--queue-url", QUEUE_URL])

    # then: everything was sent, and the first request went out when a small part of the input had been read
    assert code == 0
    assert capsys.readouterr().out.startswith(f"sent 5000, rejected 0, failed 0 of 5000 events to {QUEUE_URL}")
    assert len(fake.bodies) == 5_000
    assert read_at_first_send[0] < len(stdin.getvalue()) / 4


def test_concurrency_is_bounded_by_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: a queue that counts the requests running at once, each taking a moment
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def on_send() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(0.02)
        with lock:
            running[0] -= 1

    fake = FakeSqs(on_send=on_send)
    monkeypatch.setattr(push_module, "sqs_client", lambda **_: fake)
    monkeypatch.setenv("SLUICE_PUSH_CONCURRENCY", "3")

    code = main(["push", "--generate", "200", "--seed", "1", "--queue-url", QUEUE_URL])

    assert (code, fake.calls, len(fake.bodies)) == (0, 20, 200)
    assert peak[0] == 3


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


def test_a_missing_file_is_one_line_with_a_hint_for_a_value_given_to_a_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(["push", "--dry-run", "true"])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: cannot read events: true: no such file (--dry-run and --skip-validation are flags: they take no value)"
    ]


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


def test_ratios_without_generate_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["push", "-", "--invalid-ratio", "0.1", "--dry-run"])

    assert code == 2
    assert "--invalid-ratio, --duplicate-ratio and --seed go with --generate" in capsys.readouterr().err


def test_ctrl_c_prints_what_had_settled_and_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: a queue that takes two requests, then the user presses Ctrl-C during the third
    calls = [0]

    def on_send() -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt

    fake = FakeSqs(on_send=on_send)
    monkeypatch.setattr(push_module, "sqs_client", lambda **_: fake)

    code = main(["push", "--generate", "100", "--queue-url", QUEUE_URL, "--concurrency", "1", "--correlation-id", "c"])

    captured = capsys.readouterr()
    assert code == 130
    assert captured.out.splitlines() == [
        f"sent 20, rejected 0, failed 0 of 20 events to {QUEUE_URL}",
        "correlation id: c",
    ]
    assert captured.err.splitlines() == [
        "interrupted: the counts above are what had settled; the rest of the input was not sent"
    ]
    assert calls[0] == 3
