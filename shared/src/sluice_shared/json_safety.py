"""JSON that PostgreSQL can store exactly as its producer wrote it: the hazards the message contract refuses.

Pydantic validates the envelope's shape; these checks find what parsing would silently change or what
PostgreSQL cannot hold: a key repeated in one object, numbers that overflow a double or Python's integer
limit, nesting deeper than the JSON parser accepts, NUL characters and lone surrogates. Each finding is a
:class:`~sluice_shared.errors.FieldError` naming the dotted path of the value (never the value itself).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from sluice_shared.errors import FieldError

__all__ = [
    "ESCAPED_NUL",
    "ESCAPED_QUOTE",
    "MAX_INT_DIGITS",
    "MAX_NESTING_DEPTH",
    "TOO_DEEP_REASON",
    "UNSTORABLE_CHARS",
    "find_duplicate_key",
    "find_unstorable",
    "locate_unstorable",
    "unstorable_reason",
]

# Python (since 3.11, the CVE-2020-10735 guard) and pydantic's JSON parser refuse integers longer than this:
# a bigger one could be neither parsed by the consumer nor serialized by a producer.
MAX_INT_DIGITS: Final = 4_300
_MAX_INT: Final = 10**MAX_INT_DIGITS - 1
# pydantic's JSON parser (jiter) refuses bodies whose arrays and objects holding values nest deeper than 200
# levels (the envelope object is level 1, the payload object level 2). Python data is held to the same limit,
# so a producer never sends a body the consumer cannot parse.
MAX_NESTING_DEPTH: Final = 200

# PostgreSQL text and jsonb cannot hold NUL, and a lone UTF-16 surrogate cannot be encoded as UTF-8.
UNSTORABLE_CHARS: Final = re.compile("[\x00\ud800-\udfff]")

# Raw control characters (NUL included) are invalid inside JSON strings and lone surrogates fail parsing, so a
# parsed string can only hold NUL through the escape \u0000. The exact walk over every string only runs when
# the body contains that escape (an escaped backslash followed by "u0000" is a harmless false alarm).
ESCAPED_NUL: Final = "\\u0000"
ESCAPED_QUOTE: Final = "\\u0022"

_DUPLICATE_KEY_REASON: Final = (
    "duplicate key: the object has this key more than once, and JSON parsers disagree on which value wins"
)
_NON_FINITE_REASON: Final = (
    "is not a finite number (NaN and Infinity are not JSON, and numbers beyond +-1.8e308 overflow a double); "
    "PostgreSQL jsonb cannot store it"
)
_BIG_INT_REASON: Final = f"is an integer with more than {MAX_INT_DIGITS} digits"
TOO_DEEP_REASON: Final = f"nests arrays and objects more than {MAX_NESTING_DEPTH} levels deep"
# Paths of deeply nested values are cut to this many segments in error messages.
_MAX_PATH_SEGMENTS: Final = 6


def find_unstorable(value: object, path: str, *, depth: int) -> FieldError | None:
    """Return the first value under ``value`` that PostgreSQL cannot store or Python cannot serialize.

    Checks strings and object keys (NUL, lone surrogates), numbers (non-finite floats, integers over
    :data:`MAX_INT_DIGITS` digits) and nesting (over :data:`MAX_NESTING_DEPTH`; ``depth`` is ``value``'s level).
    """
    if isinstance(value, dict | list):
        # Like pydantic's parser, count the levels that hold a value: an empty innermost [] or {} is not one.
        if depth > MAX_NESTING_DEPTH and value:
            return FieldError(_short_path(path), TOO_DEEP_REASON)
        return _find_unstorable_member(value, path, depth=depth)
    reason = _scalar_problem(value)
    return None if reason is None else FieldError(path, reason)


def _find_unstorable_member(container: dict[str, object] | list[object], path: str, *, depth: int) -> FieldError | None:
    if isinstance(container, list):
        for index, item in enumerate(container):
            found = find_unstorable(item, f"{path}.{index}", depth=depth + 1)
            if found is not None:
                return found
        return None
    for key, item in container.items():
        match = UNSTORABLE_CHARS.search(key)
        if match is not None:
            return FieldError(path, f"an object key {unstorable_reason(match.group())}")
        found = find_unstorable(item, f"{path}.{key}", depth=depth + 1)
        if found is not None:
            return found
    return None


def _scalar_problem(value: object) -> str | None:
    if isinstance(value, str):
        match = UNSTORABLE_CHARS.search(value)
        return None if match is None else unstorable_reason(match.group())
    if isinstance(value, float):
        return None if math.isfinite(value) else _NON_FINITE_REASON
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -_MAX_INT <= value <= _MAX_INT else _BIG_INT_REASON
    if isinstance(value, _TooLongInt):
        return _BIG_INT_REASON
    return None


def unstorable_reason(char: str) -> str:
    if char == "\x00":
        return "contains a NUL character (\\u0000), which PostgreSQL text cannot store"
    return f"contains a lone UTF-16 surrogate (\\u{ord(char):04x}), which is not valid Unicode text"


def _short_path(path: str) -> str:
    parts = path.split(".")
    return path if len(parts) <= _MAX_PATH_SEGMENTS else ".".join([*parts[:_MAX_PATH_SEGMENTS], "..."])


class _Members:
    """An object's members in order, duplicates kept (``json.loads`` ``object_pairs_hook``)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _ignore_value(_text: str) -> None:
    """Numbers are not needed to find keys; skipping them also skips Python's integer size limit."""


class _TooLongInt:
    """Stands for an integer literal over :data:`MAX_INT_DIGITS` digits, which neither parser converts."""


def _check_int_length(text: str) -> _TooLongInt | None:
    return _TooLongInt() if len(text.lstrip("-")) > MAX_INT_DIGITS else None


def find_duplicate_key(text: str) -> FieldError | None:
    """The first key repeated within one object of ``text`` (JSON that pydantic has already parsed)."""
    try:
        tree = json.loads(
            text,
            object_pairs_hook=_Members,
            parse_int=_ignore_value,
            parse_float=_ignore_value,
            parse_constant=_ignore_value,
        )
    except ValueError as exc:
        return FieldError(None, f"body is not valid JSON: {exc}")
    return _duplicate_in(tree, None)


def _duplicate_in(value: object, path: str | None) -> FieldError | None:
    if isinstance(value, _Members):
        seen: set[str] = set()
        for key, _item in value.pairs:
            if key in seen:
                return FieldError(_join(path, key), _DUPLICATE_KEY_REASON)
            seen.add(key)
        children: list[tuple[str, object]] = [(_join(path, key), item) for key, item in value.pairs]
    elif isinstance(value, list):
        children = [(_join(path, str(index)), item) for index, item in enumerate(value)]
    else:
        return None
    for child_path, item in children:
        found = _duplicate_in(item, child_path)
        if found is not None:
            return found
    return None


def _join(path: str | None, key: str) -> str:
    return key if path is None else f"{path}.{key}"


def locate_unstorable(text: str) -> FieldError | None:
    """Name the field holding text PostgreSQL cannot store, in a body pydantic refused to parse.

    Python's parser is more lenient than pydantic's: it reads lone surrogates (escaped or raw) and raw control
    characters, so it can say where they are; it also names over-long integers and over-deep nesting, which
    pydantic's parser reports by line and column only. Only called on the error path.
    """
    try:
        tree = json.loads(
            text, strict=False, parse_int=_check_int_length, parse_float=_ignore_value, parse_constant=_ignore_value
        )
    except (ValueError, RecursionError):
        return None
    if not isinstance(tree, dict):
        return None
    for key, value in tree.items():
        match = UNSTORABLE_CHARS.search(key)
        if match is not None:
            return FieldError(None, f"an object key {unstorable_reason(match.group())}")
        found = find_unstorable(value, key, depth=2)
        if found is not None:
            return found
    return None
