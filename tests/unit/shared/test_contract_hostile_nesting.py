"""Nesting against the message contract: up to the limit is accepted, deeper is refused, producer and consumer agree.

pydantic's JSON parser stops at ``MAX_NESTING_DEPTH`` levels; the same limit applies to Python data, so a producer
never sends what the consumer cannot parse, and absurd nesting is refused without a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from sluice_shared.contract import MAX_NESTING_DEPTH, parse_message, validate_event
from sluice_shared.errors import InvalidMessageError
from tests.support.factories import event_dict
from tests.support.hostile_json import Raw, write_body

if TYPE_CHECKING:
    from collections.abc import Callable


def _nest(levels: int, *, container: str, innermost_empty: bool) -> Any:
    """``levels`` nested arrays or objects; the innermost one is empty or holds one number."""
    value: Any = ([] if innermost_empty else [1]) if container == "array" else ({} if innermost_empty else {"k": 1})
    for _ in range(levels - 1):
        value = [value] if container == "array" else {"k": value}
    return value


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("container", ["array", "object"])
def test_nesting_up_to_the_limit_is_accepted_and_one_level_more_is_rejected(container: str) -> None:
    # The envelope is level 1 and the payload level 2: a payload member may nest MAX_NESTING_DEPTH - 2 levels.
    deepest = {"x": _nest(MAX_NESTING_DEPTH - 2, container=container, innermost_empty=False)}
    too_deep = {"x": _nest(MAX_NESTING_DEPTH - 1, container=container, innermost_empty=False)}

    assert parse_message(write_body(deepest)).payload == deepest
    assert validate_event(event_dict(payload=deepest)).payload == deepest
    attempts: tuple[Callable[[], object], ...] = (
        lambda: parse_message(write_body(too_deep)),
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
        lambda: parse_message(write_body(payload)),
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
    body = write_body(Raw('{"x": ' + "[" * levels + "]" * levels + "}"))
    data = event_dict(payload={"x": _deep(levels)})

    attempts: tuple[Callable[[], object], ...] = (lambda: parse_message(body), lambda: validate_event(data))
    for attempt in attempts:
        with pytest.raises(InvalidMessageError) as caught:
            attempt()
        assert "deep" in caught.value.reason or "recursion limit" in caught.value.reason
