"""Text hazards against the message contract: bytes that are not UTF-8, NUL (raw or escaped), lone surrogates.

PostgreSQL text cannot hold them, so each is refused naming the field it sits in; invalid UTF-8 outside any
string is a malformed body with its offset. The writer and strategies are in :mod:`tests.support.hostile_json`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sluice_shared.contract import parse_message
from sluice_shared.errors import InvalidMessageError, MalformedMessageError
from tests.support.factories import event_body
from tests.support.hostile_json import HOSTILE, Raw, payloads, write_body


@HOSTILE
@given(garbage=st.binary(min_size=1, max_size=4).filter(lambda b: not _is_utf8(b)), payload=payloads)
def test_bytes_that_are_not_utf8_inside_a_string_are_rejected_naming_the_field(
    garbage: bytes, payload: dict[str, Any]
) -> None:
    body = write_body({**payload, "blob": "<>"}).encode("utf-8")
    assume(body.count(b'"<>"') == 1)
    hostile = body.replace(b'"<>"', b'"<' + garbage.replace(b'"', b"").replace(b"\\", b"") + b'>"')
    assume(not _is_utf8(hostile))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(hostile)

    assert caught.value.field == "payload.blob"
    assert "not valid UTF-8" in caught.value.reason


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_invalid_utf8_outside_any_string_is_malformed_with_its_offset() -> None:
    body = b"\xff" + event_body().encode("utf-8")

    with pytest.raises(MalformedMessageError) as caught:
        parse_message(body)

    assert caught.value.reason == "body is not valid UTF-8 (byte 0xff at offset 0)"


@pytest.mark.parametrize(
    ("spelled", "field"),
    [
        ('{"k": "a\\u0000"}', "payload.k"),
        ('{"k\\u0000": 1}', "payload"),
        ('{"k": ["\\u0000"]}', "payload.k.0"),
    ],
)
def test_escaped_nul_is_rejected_naming_its_field(spelled: str, field: str) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_body(Raw(spelled)))

    assert caught.value.field == field
    assert "NUL" in caught.value.reason


def test_raw_nul_is_rejected_naming_its_field() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_body({"k": "a"}).replace('"a"', '"a\x00"'))

    assert caught.value.field == "payload.k"
    assert "NUL" in caught.value.reason


def test_lone_surrogate_in_an_envelope_field_is_rejected_naming_it() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_body({}, source=Raw('"svc\\udfff"')))

    assert caught.value.field == "source"
    assert "surrogate" in caught.value.reason
