from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from sluice_cli.dlq.archive import ArchiveError, JsonLinesArchive, archive_line
from tests.unit.cli.dlq.fakes import dead_letter

if TYPE_CHECKING:
    from pathlib import Path


def test_one_line_json_body_is_archived_exactly_as_received() -> None:
    body = '{"event_id": "e", "payload": {"note": "caf\u00e9"}}'

    assert archive_line(dead_letter(body=body)) == body


def test_multi_line_json_body_becomes_the_same_json_on_one_line() -> None:
    body = '{\n  "event_id": "e",\n  "payload": {"text": "a\\u2028b"}\n}'

    line = archive_line(dead_letter(body=body))

    assert "\n" not in line
    assert len(line.splitlines()) == 1
    assert json.loads(line) == json.loads(body)


def test_body_that_is_not_json_is_archived_as_a_json_string() -> None:
    line = archive_line(dead_letter(body="oops\nnot json"))

    assert line == '"oops\\nnot json"'
    assert json.loads(line) == "oops\nnot json"


def test_archive_appends_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")
    messages = [dead_letter(body='{"n": 1}'), dead_letter(body='{"n": 2}')]

    with JsonLinesArchive(path) as archive:
        archive.write(messages)

    assert path.read_text(encoding="utf-8") == '{"earlier": true}\n{"n": 1}\n{"n": 2}\n'
    assert archive.written == 2


def test_archive_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=r"cannot open archive .*missing/archive.jsonl: No such file or directory"):
        JsonLinesArchive(tmp_path / "missing" / "archive.jsonl").__enter__()
