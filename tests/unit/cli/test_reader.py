"""Reading events as a stream: JSON Lines and JSON arrays, line numbers, bad lines, broken arrays."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from sluice_cli.reader import MAX_LINE_BYTES, EventReader, Unreadable, open_events
from sluice_shared.errors import ConfigurationError, MalformedMessageError
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from pathlib import Path


def _read(data: bytes, name: str = "events") -> list[tuple[int, Any]]:
    return list(EventReader(io.BytesIO(data), name))


def _reasons(items: list[tuple[int, Any]]) -> list[tuple[int, str]]:
    return [(number, item.error.reason) for number, item in items if isinstance(item, Unreadable)]


def test_json_lines_are_read_with_their_line_numbers_blank_lines_included() -> None:
    events = [event_dict(), event_dict()]
    data = f"\n\n{json.dumps(events[0])}\n\n{json.dumps(events[1])}\n".encode()

    assert _read(data) == [(3, events[0]), (5, events[1])]


def test_a_json_array_is_read_element_by_element_with_positions() -> None:
    events = [event_dict(), event_dict(payload={"order_id": "o-2", "reason": "late", "weight": 1.5})]

    reader = EventReader(io.BytesIO(("  \n" + json.dumps(events, indent=2)).encode()), "events.json")

    assert (reader.noun, list(reader)) == ("event", [(0, events[0]), (1, events[1])])


def test_a_byte_order_mark_is_skipped() -> None:
    event = event_dict()

    assert _read(b"\xef\xbb\xbf" + json.dumps(event).encode() + b"\n") == [(1, event)]
    assert _read(b"\xef\xbb\xbf" + json.dumps([event]).encode()) == [(0, event)]


def test_a_bad_line_is_reported_as_that_line_and_reading_goes_on() -> None:
    good = event_dict()
    data = b'{"a": 1\n{"a": NaN}\n\xff\xfe{}\n' + json.dumps(good).encode() + b"\n"

    items = _read(data)

    assert _reasons(items) == [
        (1, "bad JSON: Expecting ',' delimiter"),
        (2, "bad JSON: NaN is not a JSON value"),
        (3, "not UTF-8 text (byte 1 of the line)"),
    ]
    assert items[-1] == (4, good)


def test_a_line_longer_than_any_message_is_refused_without_being_held() -> None:
    data = b'{"x": "' + b"y" * (MAX_LINE_BYTES + 10) + b'"}\n{"after": true}\n'

    items = _read(data)

    assert _reasons(items) == [(1, f"the line is over {MAX_LINE_BYTES} bytes: no message can be that large")]
    assert items[1] == (2, {"after": True})


def test_a_broken_array_yields_what_came_before_then_names_where_it_broke() -> None:
    reader = EventReader(io.BytesIO(b'[{"a": 1}, {"b": 2}, {"c": }]'), "events.json")
    seen: list[tuple[int, Any]] = []

    with pytest.raises(MalformedMessageError) as caught:
        seen.extend(reader)

    assert seen == [(0, {"a": 1}), (1, {"b": 2})]
    assert caught.value.reason == (
        "events.json: bad JSON in the array after event 1 (near byte 29): "
        "parse error: unallowed token at this point in JSON text"
    )


def test_a_truncated_array_is_malformed() -> None:
    with pytest.raises(MalformedMessageError, match=r"before its first event .*premature EOF"):
        _read(b"[", "stdin")


def test_reading_is_lazy_one_buffer_ahead_at_most() -> None:
    # given: 20,000 events (~4 MB) in a JSON Lines stream
    line = json.dumps(event_dict()).encode() + b"\n"
    data = line * 20_000
    reader = EventReader(io.BytesIO(data), "big")

    # when: the first event is taken
    first = next(iter(reader))

    # then: only the first read buffer was consumed, not the whole input
    assert first[0] == 1
    assert reader.bytes_read <= 2 * 65_536 < len(data)


def test_stdin_is_read_for_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    event = event_dict()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(event).encode())))

    with open_events("-") as reader:
        assert (reader.name, reader.size, list(reader)) == ("stdin", None, [(1, event)])


def test_a_file_knows_its_size_for_the_eta(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(event_dict()) + "\n", encoding="utf-8")

    with open_events(str(path)) as reader:
        assert reader.size == path.stat().st_size


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with (
        pytest.raises(ConfigurationError, match=r"cannot read events: .*/nope.jsonl: no such file$"),
        open_events(str(tmp_path / "nope.jsonl")),
    ):
        pass


def test_a_value_given_to_a_flag_gets_a_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as caught, open_events("true"):
        pass

    assert str(caught.value) == (
        "cannot read events: true: no such file (--dry-run and --skip-validation are flags: they take no value)"
    )


def test_a_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"), open_events(str(tmp_path)):
        pass
