from __future__ import annotations

import pytest

from sluice_cli.app import EXIT_USAGE, main


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
