"""Hostile input against the message contract (Hypothesis): every body is stored faithfully or refused clearly.

The one property behind every test here: :func:`parse_message` either returns an envelope that PostgreSQL can
store exactly as the producer meant it (no NUL, no lone surrogate, finite numbers, a timestamp that converts
to UTC, no key whose first value was silently dropped, a body that serializes back to an equal envelope), or
raises :class:`InvalidMessageError` with a reason, naming the field when there is one. Never another exception.

Bodies are written by a small JSON writer of our own (:func:`_write`) so tests can spell what ``json.dumps``
refuses to: duplicate keys, lone surrogates, NaN, numbers that overflow a double, raw control characters.
Python's ``json`` module is the independent oracle for what a body says.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sluice_shared.contract import (
    MAX_BODY_BYTES,
    MAX_INT_DIGITS,
    MAX_NESTING_DEPTH,
    EventEnvelope,
    parse_message,
    validate_event,
)
from sluice_shared.errors import InvalidMessageError, MalformedMessageError, MessageTooLargeError
from tests.support.factories import event_body, event_dict

if TYPE_CHECKING:
    from collections.abc import Callable

# Deadlines are timing checks and the machine is shared: examples are judged on results only.
HOSTILE: Final = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])

SQL_LOOKING: Final = (
    "'; DROP TABLE events; --",
    "1' OR '1'='1",
    "Robert'); DELETE FROM events WHERE ('1'='1",
    "$$; SELECT pg_sleep(10); $$",
    "E'\\\\x00' || chr(0)",
    "/* */ SET search_path TO evil; --",
    "\"; COPY events TO PROGRAM 'rm -rf /'; --",
    "\\'; SELECT pg_advisory_lock(1); --",
    "%s %(name)s {} {0} $1 ?",
)


# --- a JSON writer that can say what json.dumps will not ---------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text inserted verbatim (a number literal, NaN, an escape json.dumps would not write)."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as ordered members; keys may repeat."""

    members: tuple[tuple[str | Raw, Any], ...]


def _write(value: Any, *, ascii_only: bool = False) -> str:
    """Write ``value`` as JSON text; :class:`Raw` and :class:`Obj` let a test spell hostile JSON."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        members = (
            f"{_write(key, ascii_only=ascii_only)}: {_write(item, ascii_only=ascii_only)}"
            for key, item in value.members
        )
        return "{" + ", ".join(members) + "}"
    if isinstance(value, dict):
        return _write(Obj(tuple(value.items())), ascii_only=ascii_only)
    if isinstance(value, list):
        return "[" + ", ".join(_write(item, ascii_only=ascii_only) for item in value) + "]"
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_text(value)
    return json.dumps(value, ensure_ascii=ascii_only)


def _int_text(value: int) -> str:
    # str() refuses integers over 4,300 digits; the tests need to write them.
    digits: list[str] = []
    rest = abs(value)
    while rest:
        rest, chunk = divmod(rest, 10**1000)
        digits.append(f"{chunk:01000d}" if rest else str(chunk))
    return ("-" if value < 0 else "") + ("".join(reversed(digits)) or "0")


def _body(payload: Any, *, ascii_only: bool = False, **fields: Any) -> str:
    envelope: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "thing.happened",
        "source": "tests",
        "occurred_at": "2026-11-26T12:00:00Z",
        "schema_version": 1,
        "payload": payload,
    }
    envelope.update(fields)
    return _write(envelope, ascii_only=ascii_only)


# --- the oracle -----------------------------------------------------------------------------------------


class _DuplicateKeyError(Exception):
    """The oracle met a key twice in one object."""


def _oracle_unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKeyError
    return obj


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _numbers(value: Any) -> list[float | int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def _assert_storable_and_faithful(body: str | bytes, envelope: EventEnvelope) -> None:
    """What an accepted body must satisfy: storable, round-trips, and says exactly what the producer wrote."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body  # accepted bytes are valid UTF-8
    # Faithful: Python's own parser reads the same payload from the body, and no key repeats anywhere.
    said = json.loads(text, object_pairs_hook=_oracle_unique)
    assert envelope.payload == said["payload"]
    # Storable: text PostgreSQL can hold, finite numbers, integers Python can print, a UTC-convertible time.
    for string in (envelope.event_type, envelope.source, *_strings(envelope.payload)):
        assert "\x00" not in string
        string.encode("utf-8")  # raises on a lone surrogate
    for number in _numbers(envelope.payload):
        assert isinstance(number, int) or math.isfinite(number)
    envelope.occurred_at.astimezone(UTC)
    # Round trip: the serialized form is strict JSON and parses back to an equal envelope.
    serialized = envelope.to_body()
    json.loads(serialized, parse_constant=_refuse_constant)
    assert parse_message(serialized) == envelope


def _refuse_constant(name: str) -> None:
    raise AssertionError(f"{name} in a serialized body")


def _outcome(body: str | bytes, **kwargs: Any) -> EventEnvelope | InvalidMessageError:
    """Parse; an InvalidMessageError is returned (with its reason checked), anything else propagates."""
    try:
        envelope = parse_message(body, **kwargs)
    except InvalidMessageError as exc:
        rejection = exc
    else:
        _assert_storable_and_faithful(body, envelope)
        return envelope
    assert rejection.reason.strip()
    return rejection


# --- strategies ----------------------------------------------------------------------------------------

# Text PostgreSQL stores as is: any Unicode scalar value but NUL (codec="utf-8" leaves out surrogates).
storable_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12) | st.sampled_from(
    SQL_LOOKING
)
storable_ints = st.integers() | st.integers(min_value=-(10**MAX_INT_DIGITS - 1), max_value=10**MAX_INT_DIGITS - 1)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | storable_ints | finite_floats | storable_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(storable_text, children, max_size=4),
    max_leaves=16,
)
payloads = st.dictionaries(storable_text, json_values, max_size=5)


@dataclass(frozen=True)
class Hazard:
    """One hostile thing placed in a payload: how it is spelled, and how the rejection must read."""

    name: str
    spell: Callable[[Any], Any]  # wraps the value at the chosen place
    reason_part: str
    names_key: bool = False  # the error names the parent object, not the member


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


HAZARDS: Final = (
    Hazard("escaped NUL", lambda _: Raw('"a\\u0000b"'), "NUL"),
    Hazard("lone high surrogate, escaped", lambda _: Raw('"\\ud83d"'), "surrogate"),
    Hazard("lone low surrogate, escaped", lambda _: Raw('"x\\udc00y"'), "surrogate"),
    Hazard("lone surrogate, raw", lambda _: "\ud800", "surrogate"),
    Hazard("NaN", lambda _: Raw("NaN"), "finite"),
    Hazard("Infinity", lambda _: Raw("Infinity"), "finite"),
    Hazard("-Infinity", lambda _: Raw("-Infinity"), "finite"),
    Hazard("float overflow", lambda _: Raw("1e400"), "finite"),
    Hazard("negative float overflow", lambda _: Raw("-12.5E+999"), "finite"),
    Hazard("long mantissa overflow", lambda _: Raw("9" * 400 + ".5"), "finite"),
    Hazard("integer too long", lambda _: Raw("9" * (MAX_INT_DIGITS + 1)), f"{MAX_INT_DIGITS} digits"),
    Hazard("negative integer too long", lambda _: Raw("-" + "1" * (MAX_INT_DIGITS + 5)), f"{MAX_INT_DIGITS} digits"),
)


@st.composite
def payload_with_hazard(draw: st.DrawFn) -> tuple[Obj, Hazard, str]:
    """A storable payload with one hazard placed at a random depth; returns it and the field it must name."""
    hazard = draw(st.sampled_from(HAZARDS))
    path = draw(st.lists(st.one_of(st.integers(0, 2), storable_text.filter(lambda k: "." not in k)), max_size=4))
    value: Any = hazard.spell(None)
    for step in reversed(path):
        if isinstance(step, int):
            value = [*draw(st.lists(json_values, min_size=step, max_size=step)), value]
        else:
            value = Obj(((step, value),))
    key = draw(storable_text.filter(lambda k: "." not in k))
    siblings = draw(st.dictionaries(storable_text.filter(lambda k: k != key), json_values, max_size=3))
    payload = Obj((*siblings.items(), (key, value)))
    field = ".".join(["payload", key, *(str(step) for step in path)])
    return payload, hazard, field


# --- properties ----------------------------------------------------------------------------------------


@HOSTILE
@given(payload=payloads, ascii_only=st.booleans())
def test_any_storable_payload_is_accepted_and_stored_exactly(payload: dict[str, Any], ascii_only: bool) -> None:
    body = _body(payload, ascii_only=ascii_only)

    envelope = parse_message(body)

    assert envelope.payload == payload
    _assert_storable_and_faithful(body, envelope)


@HOSTILE
@given(case=payload_with_hazard(), ascii_only=st.booleans())
def test_a_hazard_anywhere_in_the_payload_is_rejected_naming_its_field(
    case: tuple[Obj, Hazard, str], ascii_only: bool
) -> None:
    payload, hazard, field = case

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(_body(payload, ascii_only=ascii_only))

    assert caught.value.field == field, hazard.name
    assert hazard.reason_part in caught.value.reason


@HOSTILE
@given(
    payload=payloads.filter(bool),
    data=st.data(),
    ascii_only=st.booleans(),
)
def test_a_duplicate_key_anywhere_is_rejected_naming_it(
    payload: dict[str, Any], data: st.DataObject, ascii_only: bool
) -> None:
    # given: a key repeated in the payload object, with a value that may be equal or not
    key = data.draw(st.sampled_from(sorted(payload)))
    again = data.draw(json_values)
    members = (*payload.items(), (key, again))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(_body(Obj(members), ascii_only=ascii_only))

    assert caught.value.field == f"payload.{key}"
    assert "duplicate key" in caught.value.reason


@HOSTILE
@given(
    payload=payloads.map(lambda p: {k: v for k, v in p.items() if k != "nested"}),
    key=storable_text.filter(lambda k: "." not in k),
    depth=st.integers(1, 3),
)
def test_a_duplicate_key_in_a_nested_object_is_rejected_naming_it(
    payload: dict[str, Any], key: str, depth: int
) -> None:
    inner: Any = Obj(((key, 1), (key, 2)))
    for _ in range(depth - 1):
        inner = [inner]
    body = _body(Obj((*payload.items(), ("nested", inner))))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(body)

    assert caught.value.field == ".".join(["payload", "nested", *["0"] * (depth - 1), key])


@pytest.mark.parametrize("field", ["event_id", "event_type", "source", "occurred_at", "schema_version", "payload"])
def test_a_duplicate_envelope_field_is_rejected_even_when_both_values_are_valid(field: str) -> None:
    event = event_dict()
    members = (*event.items(), (field, event[field]))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(_write(Obj(members)))

    assert caught.value.field == field
    assert "duplicate key" in caught.value.reason


def test_keys_that_only_differ_in_how_they_are_escaped_are_duplicates() -> None:
    body = _body(Raw('{"caf\\u00e9": 1, "café": 2}'))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(body)

    assert caught.value.field == "payload.café"


def test_quotes_spelled_as_unicode_escapes_do_not_hide_a_duplicate() -> None:
    # \u0022 is a quote the text does not show: the cheap quote count alone would be fooled.
    body = _body(Raw('{"a": "\\u0022\\u0022", "b": 1, "b": 2}'))

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(body)

    assert caught.value.field == "payload.b"


@HOSTILE
@given(body=st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_text_or_bytes_never_raise_anything_but_invalid_message(body: str | bytes) -> None:
    _outcome(body)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> str:
    """A valid body with a few characters inserted, deleted or replaced: near-misses of valid JSON."""
    text = _body(draw(payloads), ascii_only=draw(st.booleans()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        insert = draw(
            st.sampled_from(
                ['"', "\\", "{", "}", "[", "]", ",", ":", "\x00", "\ud800", "\\u0000", "NaN", "-", "e9999", "0", " "]
            )
            | st.text(max_size=2)
        )
        cut = draw(st.integers(0, 3))
        text = text[:at] + insert + text[at + cut :]
    return text


@HOSTILE
@given(body=mutated_bodies())
def test_near_misses_of_valid_bodies_are_stored_faithfully_or_rejected(body: str) -> None:
    _outcome(body)


@HOSTILE
@given(body=mutated_bodies())
def test_near_misses_as_bytes_behave_like_the_same_text(body: str) -> None:
    try:
        raw = body.encode("utf-8")
    except UnicodeEncodeError:
        raw = body.encode("utf-8", errors="surrogatepass")  # what a broken producer would send

    outcome = _outcome(raw)

    if isinstance(outcome, EventEnvelope):
        assert outcome == parse_message(body)


@HOSTILE
@given(garbage=st.binary(min_size=1, max_size=4).filter(lambda b: not _is_utf8(b)), payload=payloads)
def test_bytes_that_are_not_utf8_inside_a_string_are_rejected_naming_the_field(
    garbage: bytes, payload: dict[str, Any]
) -> None:
    body = _body({**payload, "blob": "<>"}).encode("utf-8")
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
        parse_message(_body(Raw(spelled)))

    assert caught.value.field == field
    assert "NUL" in caught.value.reason


def test_raw_nul_is_rejected_naming_its_field() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(_body({"k": "a"}).replace('"a"', '"a\x00"'))

    assert caught.value.field == "payload.k"
    assert "NUL" in caught.value.reason


def test_lone_surrogate_in_an_envelope_field_is_rejected_naming_it() -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(_body({}, source=Raw('"svc\\udfff"')))

    assert caught.value.field == "source"
    assert "surrogate" in caught.value.reason


# --- numbers --------------------------------------------------------------------------------------------


@HOSTILE
@given(value=finite_floats | storable_ints)
def test_finite_numbers_and_long_integers_round_trip_exactly(value: float) -> None:
    envelope = parse_message(_body({"n": value}))

    assert envelope.payload["n"] == value
    assert parse_message(envelope.to_body()).payload["n"] == value


def test_a_number_below_the_smallest_double_reads_as_zero_like_every_json_parser() -> None:
    # Underflow is the documented IEEE 754 reading (RFC 8259 section 6), not an overflow to a value jsonb refuses.
    assert parse_message(_body(Raw('{"n": 1e-400}'))).payload == {"n": 0.0}


def test_an_integer_of_exactly_the_maximum_length_is_accepted() -> None:
    value = int("9" * MAX_INT_DIGITS)

    assert parse_message(_body(Raw('{"n": -' + "9" * MAX_INT_DIGITS + "}"))).payload == {"n": -value}


@pytest.mark.parametrize(
    "value", [math.inf, -math.inf, math.nan, 10**MAX_INT_DIGITS], ids=["inf", "-inf", "nan", "10**4300"]
)
def test_python_data_with_unstorable_numbers_is_rejected_naming_the_field(value: float) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        validate_event(event_dict(payload={"order_id": "o-1", "amount": value}))

    assert caught.value.field == "payload.amount"


# --- nesting --------------------------------------------------------------------------------------------


def _nest(levels: int, *, container: str, innermost_empty: bool) -> Any:
    """``levels`` nested arrays or objects; the innermost one is empty or holds one number."""
    value: Any = ([] if innermost_empty else [1]) if container == "array" else ({} if innermost_empty else {"k": 1})
    for _ in range(levels - 1):
        value = [value] if container == "array" else {"k": value}
    return value


@pytest.mark.parametrize("container", ["array", "object"])
def test_nesting_up_to_the_limit_is_accepted_and_one_level_more_is_rejected(container: str) -> None:
    # The envelope is level 1 and the payload level 2: a payload member may nest MAX_NESTING_DEPTH - 2 levels.
    deepest = {"x": _nest(MAX_NESTING_DEPTH - 2, container=container, innermost_empty=False)}
    too_deep = {"x": _nest(MAX_NESTING_DEPTH - 1, container=container, innermost_empty=False)}

    assert parse_message(_body(deepest)).payload == deepest
    assert validate_event(event_dict(payload=deepest)).payload == deepest
    attempts: tuple[Callable[[], object], ...] = (
        lambda: parse_message(_body(too_deep)),
        lambda: validate_event(event_dict(payload=too_deep)),
    )
    for attempt in attempts:
        with pytest.raises(InvalidMessageError) as caught:
            attempt()
        assert caught.value.field is not None
        assert caught.value.field.startswith("payload.x")
        assert "levels deep" in caught.value.reason


@pytest.mark.parametrize("container", ["array", "object"])
@pytest.mark.parametrize("innermost_empty", [True, False])
@pytest.mark.parametrize("levels", range(MAX_NESTING_DEPTH - 4, MAX_NESTING_DEPTH + 2))
def test_producer_and_consumer_agree_on_nesting_near_the_limit(
    container: str, innermost_empty: bool, levels: int
) -> None:
    payload = {"x": _nest(levels, container=container, innermost_empty=innermost_empty)}

    verdicts: list[str] = []
    attempts: tuple[Callable[[], object], ...] = (
        lambda: parse_message(_body(payload)),
        lambda: validate_event(event_dict(payload=payload)),
    )
    for attempt in attempts:
        try:
            attempt()
            verdicts.append("accepted")
        except InvalidMessageError as exc:
            verdicts.append(exc.reason)

    assert verdicts[0] == verdicts[1]


@pytest.mark.parametrize("levels", [300, 5_000])
def test_absurd_nesting_is_rejected_without_crashing(levels: int) -> None:
    body = _body(Raw('{"x": ' + "[" * levels + "]" * levels + "}"))
    data = event_dict(payload={"x": _deep(levels)})

    attempts: tuple[Callable[[], object], ...] = (lambda: parse_message(body), lambda: validate_event(data))
    for attempt in attempts:
        with pytest.raises(InvalidMessageError) as caught:
            attempt()
        assert "deep" in caught.value.reason or "recursion limit" in caught.value.reason


# --- timestamps ------------------------------------------------------------------------------------------

minute_offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@HOSTILE
@given(moment=st.datetimes(), tz=minute_offsets)  # naive moments from year 1 to 9999; the zone is drawn apart
@example(moment=datetime.min, tz=timezone(timedelta(hours=1)))  # noqa: DTZ901 - naive on purpose, zone added below
@example(moment=datetime.max, tz=timezone(timedelta(hours=-1)))  # noqa: DTZ901 - naive on purpose, zone added below
def test_aware_timestamps_are_accepted_exactly_when_they_convert_to_utc(moment: datetime, tz: timezone) -> None:
    aware = moment.replace(tzinfo=tz)
    try:
        aware.astimezone(UTC)
        convertible = True
    except OverflowError:
        convertible = False
    body = _body({}, occurred_at=aware.isoformat())

    if convertible:
        assert parse_message(body).occurred_at == aware
    else:
        with pytest.raises(InvalidMessageError) as caught:
            parse_message(body)
        assert caught.value.field == "occurred_at"
        assert "UTC" in caught.value.reason


@HOSTILE
@given(
    text=st.datetimes().map(datetime.isoformat)  # naive
    | st.integers().map(str)  # Unix time as a string
    | st.floats(allow_nan=False).map(str)
    | st.sampled_from(
        [
            "0000-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "2026-01-01T00:00:00+24:00",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "yesterday",
            "",
            "2026-01-01",
        ]
    )
)
def test_timestamps_without_zone_numeric_or_out_of_range_are_rejected_naming_occurred_at(text: str) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(_body({}, occurred_at=text))

    assert caught.value.field == "occurred_at"


@HOSTILE
@given(value=st.text(max_size=40))
def test_any_occurred_at_text_is_accepted_only_as_an_aware_convertible_timestamp(value: str) -> None:
    outcome = _outcome(_body({}, occurred_at=value))

    if isinstance(outcome, InvalidMessageError):
        assert outcome.field == "occurred_at"
    else:
        assert outcome.occurred_at.utcoffset() is not None


# --- wrong types, sizes -------------------------------------------------------------------------------------

WRONG_TYPES: Final = {
    "event_id": st.none() | st.booleans() | st.integers() | st.lists(st.integers(), max_size=2),
    "event_type": st.none() | st.booleans() | st.integers() | finite_floats | st.just({}),
    "source": st.none() | st.booleans() | st.integers() | st.just([]) | st.just({"a": 1}),
    "occurred_at": st.none() | st.booleans() | st.integers() | finite_floats | st.just([]),
    "schema_version": st.none() | st.booleans() | finite_floats | st.text(max_size=3) | st.just([1]),
    "payload": st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=3),
}


@HOSTILE
@given(data=st.data(), field=st.sampled_from(sorted(WRONG_TYPES)))
def test_a_field_of_the_wrong_json_type_is_rejected_naming_it(data: st.DataObject, field: str) -> None:
    value = data.draw(WRONG_TYPES[field])
    overrides: dict[str, Any] = {field: value}

    with pytest.raises(InvalidMessageError) as caught:
        parse_message(_body(value) if field == "payload" else _body({}, **overrides))

    assert caught.value.field == field


@HOSTILE
@given(
    limit=st.integers(300, 700),
    filler=st.text(st.sampled_from(["a", "é", "€", "😀"]), max_size=200),
)
def test_the_size_limit_counts_utf8_bytes_at_and_over_the_limit(limit: int, filler: str) -> None:
    body = _body({"filler": filler})
    size = len(body.encode("utf-8"))

    for candidate in (body, body.encode("utf-8")):
        if size > limit:
            with pytest.raises(MessageTooLargeError, match=f"body is {size} bytes; the limit is {limit} bytes"):
                parse_message(candidate, max_bytes=limit)
        else:
            assert parse_message(candidate, max_bytes=limit).payload == {"filler": filler}


def test_a_body_of_exactly_the_default_limit_is_accepted_and_one_byte_more_is_not() -> None:
    base = _body({"blob": ""})
    exact = _body({"blob": "a" * (MAX_BODY_BYTES - len(base))})
    over = _body({"blob": "a" * (MAX_BODY_BYTES - len(base) + 1)})

    assert len(exact.encode("utf-8")) == MAX_BODY_BYTES
    assert parse_message(exact).payload["blob"] == "a" * (MAX_BODY_BYTES - len(base))
    with pytest.raises(MessageTooLargeError):
        parse_message(over)


# --- SQL-looking strings, and the producer side ----------------------------------------------------------------


@pytest.mark.parametrize("text", SQL_LOOKING)
def test_sql_looking_strings_are_ordinary_text_stored_exactly(text: str) -> None:
    envelope = parse_message(_body({text: text, "list": [text]}, source=text))

    assert envelope.payload == {text: text, "list": [text]}
    assert envelope.source == text


python_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(["\x00", "\ud800"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12,
)


@HOSTILE
@given(payload=st.dictionaries(st.text(max_size=4), python_values, max_size=4))
def test_producer_side_validation_accepts_exactly_what_the_consumer_will_accept(payload: dict[str, Any]) -> None:
    try:
        envelope = validate_event(event_dict(payload=payload))
    except InvalidMessageError as exc:
        rejected_field = exc.field
    else:
        assert parse_message(envelope.to_body()) == envelope
        _assert_storable_and_faithful(envelope.to_body(), envelope)
        return
    assert rejected_field is not None
    assert rejected_field.startswith("payload")
