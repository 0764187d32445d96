from __future__ import annotations

from types import SimpleNamespace
from typing import Final

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from sluice_cli.app import EXIT_FAILED, EXIT_USAGE, main
from sluice_cli.dlq import commands

URL: Final = "https://sqs.us-east-1.amazonaws.com/123456789012/events-dlq"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["dlq", "replay", "--queue", "dlq", "--where", "payload.["],
            "error: invalid --where expression 'payload.[': Incomplete expression at column 9",
        ),
        (
            ["dlq", "replay", "--queue", "dlq", "--older-than", "3 days"],
            "error: invalid duration '3 days': use a number and a unit (s, m, h, d, w), e.g. 15m or 7d",
        ),
        (
            ["dlq", "purge", "--queue", "dlq", "--older-than", "yesterday"],
            "error: invalid duration 'yesterday': use a number and a unit (s, m, h, d, w), e.g. 15m or 7d",
        ),
        (
            ["dlq", "redrive", "--queue", "dlq", "--status", "--cancel"],
            "error: --status and --cancel cannot be used together",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_call(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(argv)

    captured = capsys.readouterr()
    assert status == EXIT_USAGE
    assert captured.err.strip() == line
    assert captured.out == ""


def test_missing_queue_is_a_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_DLQ_URL", raising=False)

    status = main(["dlq", "peek"])

    assert status == EXIT_USAGE
    assert "Missing option '--queue'" in capsys.readouterr().err


def test_bad_region_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["dlq", "stats", "--queue", "dlq", "--region", "not a region!"])

    captured = capsys.readouterr()
    assert status == EXIT_USAGE
    assert captured.err.startswith("error: cannot create an SQS client: Provided region_name 'not a region!'")
    assert len(captured.err.strip().splitlines()) == 1


class _FailingSqs:
    """An SQS client whose every call fails with ``error`` (botocore's, or a bug's)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.meta = SimpleNamespace(region_name="us-east-1")

    def get_queue_attributes(self, **_: object) -> dict[str, object]:
        raise self.error


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item]
        "GetQueueAttributes",
    )


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (
            _client_error("AWS.SimpleQueueService.NonExistentQueue", 400),
            EXIT_USAGE,
            f"error: queue {URL!r} does not exist at this endpoint in region us-east-1",
        ),
        (_client_error("AccessDenied", 403), EXIT_USAGE, "error: access denied to the queue (AccessDenied): m"),
        (_client_error("ExpiredToken", 403), EXIT_USAGE, "error: AWS credentials expired (the queue): m"),
        (
            NoCredentialsError(),
            EXIT_USAGE,
            "error: no usable AWS credentials for the queue: Unable to locate credentials",
        ),
        (_client_error("Throttling", 400), EXIT_FAILED, "error: queue unavailable (Throttling): m"),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            EXIT_FAILED,
            'error: queue endpoint unreachable: Could not connect to the endpoint URL: "http://127.0.0.1:1"',
        ),
        (
            KeyError("QueueArn"),
            EXIT_FAILED,
            "error: unexpected KeyError: 'QueueArn' (rerun with --debug for the traceback)",
        ),
    ],
)
def test_each_queue_failure_is_one_line_without_a_traceback(
    error: Exception, status: int, line: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "sqs_client", lambda **_: _FailingSqs(error))

    code = main(["dlq", "stats", "--queue", URL])

    captured = capsys.readouterr()
    assert (code, captured.err.strip()) == (status, line)
    assert captured.out == ""
