"""Hostile JSON for property tests: a writer that spells what ``json.dumps`` refuses, strategies, and an oracle.

The property every contract test of hostile input checks: :func:`parse_message` either returns an envelope that
PostgreSQL can store exactly as the producer meant it (no NUL, no lone surrogate, finite numbers, a timestamp
that converts to UTC, no key whose first value was silently dropped, a body that serializes back to an equal
envelope), or raises :class:`InvalidMessageError` with a reason, naming the field when there is one. Never
another exception. :func:`outcome` checks it for one body.

- The writer (:func:`write_json`, :func:`write_body`) can spell duplicate keys (:class:`Obj`), lone surrogates,
  NaN, numbers that overflow a double, raw control characters and escapes (:class:`Raw`), and integers longer
  than ``str()`` will print.
- The strategies draw storable payloads (:data:`payloads`), payloads with one hazard placed at a random depth
  (:func:`payload_with_hazard`) and near misses of valid bodies (:func:`mutated_bodies`).
- The oracle is Python's ``json`` module, independent of the contract: :func:`unique_members` and
  :func:`refuse_constant` make it refuse repeated keys and NaN/Infinity by raising :class:`OracleRefusalError`.

Used by the contract's hostile-input tests (``tests/unit/shared/test_contract_hostile_*.py``) and the ingest
handler's (``tests/unit/reliability/test_ingest_hostile.py``).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any, Final, NoReturn

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sluice_shared.contract import MAX_INT_DIGITS, EventEnvelope, parse_message
from sluice_shared.errors import InvalidMessageError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "HAZARDS",
    "HOSTILE",
    "SQL_LOOKING",
    "Hazard",
    "Obj",
    "OracleRefusalError",
    "Raw",
    "assert_storable_and_faithful",
    "finite_floats",
    "json_values",
    "mutated_bodies",
    "outcome",
    "payload_with_hazard",
    "payloads",
    "refuse_constant",
    "storable_ints",
    "storable_text",
    "unique_members",
    "write_body",
    "write_json",
]

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


def write_json(value: Any, *, ascii_only: bool = False) -> str:
    """Write ``value`` as JSON text; :class:`Raw` and :class:`Obj` let a test spell hostile JSON."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        members = (
            f"{write_json(key, ascii_only=ascii_only)}: {write_json(item, ascii_only=ascii_only)}"
            for key, item in value.members
        )
        return "{" + ", ".join(members) + "}"
    if isinstance(value, dict):
        return write_json(Obj(tuple(value.items())), ascii_only=ascii_only)
    if isinstance(value, list):
        return "[" + ", ".join(write_json(item, ascii_only=ascii_only) for item in value) + "]"
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


def write_body(payload: Any, *, ascii_only: bool = False, **fields: Any) -> str:
    """A complete message body around ``payload``; keyword arguments replace envelope fields (:class:`Raw` too)."""
    envelope: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "thing.happened",
        "source": "tests",
        "occurred_at": "2026-11-26T12:00:00Z",
        "schema_version": 1,
        "payload": payload,
    }
    envelope.update(fields)
    return write_json(envelope, ascii_only=ascii_only)


# --- the oracle -----------------------------------------------------------------------------------------


class OracleRefusalError(Exception):
    """The oracle refuses the text: a key repeated in one object, or NaN/Infinity."""


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: the object, or :class:`OracleRefusalError` if a key repeats."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise OracleRefusalError("repeated key")
    return obj


def refuse_constant(name: str) -> NoReturn:
    """``parse_constant`` for ``json.loads``: NaN, Infinity and -Infinity are not JSON."""
    raise OracleRefusalError(f"{name} is not JSON")


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


def assert_storable_and_faithful(body: str | bytes, envelope: EventEnvelope) -> None:
    """What an accepted body must satisfy: storable, round-trips, and says exactly what the producer wrote."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body  # accepted bytes are valid UTF-8
    # Faithful: Python's own parser reads the same payload from the body, and no key repeats anywhere.
    said = json.loads(text, object_pairs_hook=unique_members)
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
    json.loads(serialized, parse_constant=refuse_constant)
    assert parse_message(serialized) == envelope


def outcome(body: str | bytes, **kwargs: Any) -> EventEnvelope | InvalidMessageError:
    """Parse; an InvalidMessageError is returned (with its reason checked), anything else propagates."""
    try:
        envelope = parse_message(body, **kwargs)
    except InvalidMessageError as exc:
        rejection = exc
    else:
        assert_storable_and_faithful(body, envelope)
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


@st.composite
def mutated_bodies(draw: st.DrawFn) -> str:
    """A valid body with a few characters inserted, deleted or replaced: near-misses of valid JSON."""
    text = write_body(draw(payloads), ascii_only=draw(st.booleans()))
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
