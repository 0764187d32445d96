"""Hostile payloads and arbitrary input against the message contract (Hypothesis): stored faithfully or refused.

Any storable payload is accepted and stored exactly; one hazard anywhere in a payload is refused naming its field;
arbitrary text or bytes and near misses of valid bodies are stored faithfully or refused with a reason, never
another exception. The writer, strategies and oracle are in :mod:`tests.support.hostile_json`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice_shared.contract import EventEnvelope, parse_message
from sluice_shared.errors import InvalidMessageError
from tests.support.hostile_json import (
    HOSTILE,
    assert_storable_and_faithful,
    mutated_bodies,
    outcome,
    payload_with_hazard,
    payloads,
    write_body,
)

if TYPE_CHECKING:
    from tests.support.hostile_json import Hazard, Obj


@HOSTILE
@given(payload=payloads, ascii_only=st.booleans())
def test_any_storable_payload_is_accepted_and_stored_exactly(payload: dict[str, Any], ascii_only: bool) -> None:
    body = write_body(payload, ascii_only=ascii_only)

    envelope = parse_message(body)

    assert envelope.payload == payload
    assert_storable_and_faithful(body, envelope)


@HOSTILE
@given(case=payload_with_hazard(), ascii_only=st.booleans())
def test_a_hazard_anywhere_in_the_payload_is_rejected_naming_its_field(
    case: tuple[Obj, Hazard, str], ascii_only: bool
) -> None:
    payload, hazard, field = case

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(write_body(payload, ascii_only=ascii_only))

    assert caught.value.field == field, hazard.name
    assert hazard.reason_part in caught.value.reason


@HOSTILE
@given(body=st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_text_or_bytes_never_raise_anything_but_invalid_message(body: str | bytes) -> None:
    outcome(body)


@HOSTILE
@given(body=mutated_bodies())
def test_near_misses_of_valid_bodies_are_stored_faithfully_or_rejected(body: str) -> None:
    outcome(body)


@HOSTILE
@given(body=mutated_bodies())
def test_near_misses_as_bytes_behave_like_the_same_text(body: str) -> None:
    try:
        raw = body.encode("utf-8")
    except UnicodeEncodeError:
        raw = body.encode("utf-8", errors="surrogatepass")  # what a broken producer would send

    result = outcome(raw)

    if isinstance(result, EventEnvelope):
        assert result == parse_message(body)
