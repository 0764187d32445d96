"""``sluice consume`` input checks: a bad event file is one clear line and exit 2, never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sluice_cli.app import EXIT_USAGE, main

if TYPE_CHECKING:
    from pathlib import Path

URL = "postgresql://postgres@127.0.0.1:5432/unused"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "must hold a JSON object shaped like an SQS event"),
        ('{"detail": {}}', "event has no 'Records' list: is the function wired to an SQS queue?"),
    ],
)
def test_bad_event_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "event.json"
    path.write_text(content, encoding="utf-8")

    code = main(["consume", "--event", str(path), "--database-url", URL])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    [line] = captured.err.strip().splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert captured.out == ""


def test_missing_event_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["consume", "--event", str(tmp_path / "missing.json"), "--database-url", URL])

    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE
    assert line.startswith("error: cannot read ")


def test_invalid_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLUICE_BATCH_DEADLINE_MARGIN_MS", "soon")
    path = tmp_path / "event.json"
    path.write_text('{"Records": []}', encoding="utf-8")

    code = main(["consume", "--event", str(path), "--database-url", URL])

    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE
    assert line.startswith("error: invalid consumer settings: SLUICE_BATCH_DEADLINE_MARGIN_MS:")
