"""Which dead letters an operation applies to: error type, event type, age and a JMESPath body expression."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import jmespath

from sluice_shared.errors import PermanentError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sluice_cli.dlq.messages import DeadLetter

__all__ = ["InvalidFilterError", "MessageFilter", "parse_duration"]

_DURATION_PART: Final = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class InvalidFilterError(PermanentError):
    """A filter option cannot be understood (bad duration, invalid JMESPath expression)."""

    code = "invalid_filter"


def parse_duration(text: str) -> timedelta:
    """Read ``15m``, ``2h``, ``7d``, ``1w`` or combinations such as ``1h30m`` (units s, m, h, d, w).

    Raises:
        InvalidFilterError: the text is not such a duration.
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise InvalidFilterError(f"invalid duration {text!r}: use a number and a unit (s, m, h, d, w), e.g. 15m or 7d")
    return timedelta(seconds=sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts))


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFilter:
    """Selects dead letters; an empty filter selects every message. All given conditions must hold."""

    error_types: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    older_than: timedelta | None = None
    newer_than: timedelta | None = None
    where: Any = None
    """A compiled JMESPath expression evaluated over the parsed body; truthy selects."""

    @classmethod
    def build(
        cls,
        *,
        error_types: Iterable[str] = (),
        event_types: Iterable[str] = (),
        older_than: str | None = None,
        newer_than: str | None = None,
        where: str | None = None,
    ) -> MessageFilter:
        """Build a filter from command-line text.

        Raises:
            InvalidFilterError: a duration or the JMESPath expression is invalid.
        """
        compiled = None
        if where is not None:
            try:
                compiled = jmespath.compile(where)
            except jmespath.exceptions.JMESPathError as exc:
                raise InvalidFilterError(f"invalid --where expression {where!r}: {_describe(exc)}") from exc
        return cls(
            error_types=frozenset(error_types),
            event_types=frozenset(event_types),
            older_than=parse_duration(older_than) if older_than is not None else None,
            newer_than=parse_duration(newer_than) if newer_than is not None else None,
            where=compiled,
        )

    def matches(self, message: DeadLetter, *, now: datetime) -> bool:
        """True when ``message`` satisfies every condition.

        A message without ``SentTimestamp`` never matches an age condition; a body that is not JSON never
        matches ``where``; an expression that fails on a body (a type error in a function) does not match it.
        """
        if self.error_types and message.error_type not in self.error_types:
            return False
        if self.event_types and message.event_type not in self.event_types:
            return False
        return self._age_matches(message, now) and self._body_matches(message)

    def _age_matches(self, message: DeadLetter, now: datetime) -> bool:
        if self.older_than is None and self.newer_than is None:
            return True
        age = message.age(now)
        if age is None:
            return False
        return (self.older_than is None or age >= self.older_than) and (
            self.newer_than is None or age <= self.newer_than
        )

    def _body_matches(self, message: DeadLetter) -> bool:
        if self.where is None:
            return True
        if message.parsed_body is None:
            return False
        try:
            return _truthy(self.where.search(message.parsed_body))
        except (jmespath.exceptions.JMESPathError, TypeError, ValueError):
            # Type errors in functions, and (jmespath 1.1) ordering a string against a number, raise.
            return False


def _truthy(value: Any) -> bool:
    # JMESPath truthiness: false, null and empty strings, lists and objects are false; 0 is true.
    return value is not None and value is not False and value not in ("", [], {})


def _describe(exc: Exception) -> str:
    """jmespath's message without the multi-line caret picture: ``Incomplete expression at column 9``."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = first.rstrip(":").removesuffix(", for expression").removeprefix("Invalid jmespath expression: ")
    position = getattr(exc, "lex_position", None)
    if isinstance(position, int) and "column" not in first:
        first += f" at column {position}"
    return first
