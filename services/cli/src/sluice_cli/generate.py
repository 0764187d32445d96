"""Realistic sample events from the built-in catalog, with invalid ones and exact duplicates mixed in.

Valid events satisfy the envelope and their payload model (``sluice_shared.catalog``), and they relate as the
catalog's tables expect: an ``order.cancelled`` or a ``payment.captured`` names an order created (validly)
earlier in the stream, and comes later in time, so the catalog's table sinks end with every order, cancellation
and payment in place. Invalid ones break the contract the ways real producers do: a naive timestamp, an unknown
top-level field, a NUL character in a payload string, a payload violating its model, wrong types. Duplicates
repeat an earlier valid event exactly (same ``event_id``), as a producer's retry would. With a ``seed`` the
stream is reproducible.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = ["EVENT_TYPES", "INVALID_KINDS", "generate_events"]

SOURCES: Final = ("checkout-service", "billing-service", "accounts-service", "mobile-app")
CURRENCIES: Final = ("EUR", "USD", "GBP", "JPY")
CANCEL_REASONS: Final = ("customer request", "payment declined", "out of stock", "address invalid")
PLANS: Final = ("free", "pro", "enterprise")
FIRST_NAMES: Final = ("ana", "bo", "chen", "dara", "eli", "fatima", "goran", "hana", "ivan", "jo")
# Events happened within the hour before "now": a plausible backlog for a producer flushing its buffer.
SPREAD_SECONDS: Final = 3600

Event = dict[str, Any]


def generate_events(
    count: int,
    *,
    invalid_ratio: float = 0.0,
    duplicate_ratio: float = 0.0,
    seed: int | None = None,
    now: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``count`` JSON-serializable events: exactly ``round(count * ratio)`` invalid and duplicate ones.

    Raises:
        ValueError: a ratio outside 0..1, ratios adding up to more than 1, or duplicates asked for with no
            valid event to repeat.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    for name, ratio in (("invalid_ratio", invalid_ratio), ("duplicate_ratio", duplicate_ratio)):
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {ratio}")
    if invalid_ratio + duplicate_ratio > 1.0:
        raise ValueError("invalid_ratio + duplicate_ratio must not exceed 1")
    rng = random.Random(seed)
    start = (now or datetime.now(UTC)) - timedelta(seconds=SPREAD_SECONDS)
    kinds = _kinds(count, invalid_ratio, duplicate_ratio, rng)
    valid: list[Event] = []
    orders: list[str] = []  # ids of the orders created so far by valid events
    invalid = 0
    for position, kind in enumerate(kinds):
        occurred_at = start + timedelta(seconds=SPREAD_SECONDS * position / max(count, 1))
        if kind == "duplicate":
            yield copy.deepcopy(rng.choice(valid))
        elif kind == "invalid":
            yield _invalid_event(rng, occurred_at, invalid, orders)
            invalid += 1
        else:
            event = _valid_event(rng, occurred_at, orders)
            if event["event_type"] == "order.created":
                orders.append(event["payload"]["order_id"])
            valid.append(event)
            yield copy.deepcopy(event)


def _kinds(count: int, invalid_ratio: float, duplicate_ratio: float, rng: random.Random) -> list[str]:
    invalid = round(count * invalid_ratio)
    duplicates = round(count * duplicate_ratio)
    if duplicates and invalid + duplicates >= count:
        raise ValueError("duplicates need at least one valid event to repeat: lower the ratios")
    kinds = ["invalid"] * invalid + ["duplicate"] * duplicates + ["valid"] * (count - invalid - duplicates)
    rng.shuffle(kinds)
    # A duplicate repeats an earlier valid event: make sure a valid one comes before the first duplicate.
    first_valid = kinds.index("valid") if "valid" in kinds else None
    first_duplicate = kinds.index("duplicate") if duplicates else None
    if first_valid is not None and first_duplicate is not None and first_duplicate < first_valid:
        kinds[first_duplicate], kinds[first_valid] = kinds[first_valid], kinds[first_duplicate]
    return kinds


def _event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ident(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.randrange(16**8):08x}"


def _envelope(rng: random.Random, event_type: str, occurred_at: datetime, payload: Event) -> Event:
    return {
        "event_id": _event_id(rng),
        "event_type": event_type,
        "source": rng.choice(SOURCES),
        "occurred_at": occurred_at.isoformat(timespec="milliseconds"),
        "schema_version": 1,
        "payload": payload,
    }


def _order_created(rng: random.Random) -> Event:
    lines = []
    total = 0
    for _ in range(rng.randint(1, 4)):
        quantity, unit_price = rng.randint(1, 5), rng.randrange(199, 25_000)
        lines.append({"sku": f"SKU-{rng.randrange(10_000):04d}", "quantity": quantity, "unit_price_cents": unit_price})
        total += quantity * unit_price
    return {
        "order_id": _ident(rng, "ord"),
        "customer_id": _ident(rng, "cus"),
        "currency": rng.choice(CURRENCIES),
        "total_cents": total,
        "lines": lines,
    }


def _order_cancelled(rng: random.Random, order_id: str) -> Event:
    return {"order_id": order_id, "reason": rng.choice(CANCEL_REASONS)}


def _payment_captured(rng: random.Random, order_id: str) -> Event:
    return {
        "payment_id": _ident(rng, "pay"),
        "order_id": order_id,
        "currency": rng.choice(CURRENCIES),
        "amount_cents": rng.randrange(199, 100_000),
    }


def _user_signed_up(rng: random.Random) -> Event:
    name = rng.choice(FIRST_NAMES)
    return {
        "user_id": _ident(rng, "usr"),
        "email": f"{name}.{rng.randrange(1000)}@example.com",
        "plan": rng.choice(PLANS),
    }


PAYLOADS: Final[dict[str, Callable[[random.Random], Event]]] = {
    "order.created": _order_created,
    "user.signed_up": _user_signed_up,
}
# Events about an existing order: the payload names one created earlier.
ORDER_PAYLOADS: Final[dict[str, Callable[[random.Random, str], Event]]] = {
    "order.cancelled": _order_cancelled,
    "payment.captured": _payment_captured,
}
EVENT_TYPES: Final = (*PAYLOADS, *ORDER_PAYLOADS)


def _valid_event(rng: random.Random, occurred_at: datetime, orders: list[str]) -> Event:
    event_type = rng.choice(EVENT_TYPES)
    if event_type in ORDER_PAYLOADS and orders:
        return _envelope(rng, event_type, occurred_at, ORDER_PAYLOADS[event_type](rng, rng.choice(orders)))
    if event_type in ORDER_PAYLOADS:  # no order yet to refer to: this one creates the first
        event_type = "order.created"
    return _envelope(rng, event_type, occurred_at, PAYLOADS[event_type](rng))


def _naive_timestamp(event: Event, _rng: random.Random) -> None:
    event["occurred_at"] = event["occurred_at"][: len("2026-01-01T00:00:00")]


def _unknown_field(event: Event, rng: random.Random) -> None:
    event[rng.choice(("tenant", "user_agent", "eventType"))] = "unexpected"


def _nul_character(event: Event, _rng: random.Random) -> None:
    key = next(k for k, v in event["payload"].items() if isinstance(v, str))
    event["payload"][key] = f"{event['payload'][key]}\x00"


def _payload_violation(event: Event, rng: random.Random) -> None:
    # Each catalog model has a required identifier: drop it, or break a constrained value.
    payload = event["payload"]
    if "currency" in payload and rng.random() < 0.5:  # noqa: PLR2004 - a coin flip
        payload["currency"] = payload["currency"].lower()
    else:
        payload.pop(next(iter(payload)))


def _wrong_types(event: Event, rng: random.Random) -> None:
    choice = rng.randrange(4)
    if choice == 0:
        event["schema_version"] = "1"
    elif choice == 1:
        event["occurred_at"] = 1_764_158_400
    elif choice == 2:  # noqa: PLR2004
        event["payload"] = [event["payload"]]
    else:
        event["event_id"] = rng.getrandbits(32)


INVALID_KINDS: Final[dict[str, Callable[[Event, random.Random], None]]] = {
    "naive_timestamp": _naive_timestamp,
    "unknown_field": _unknown_field,
    "nul_character": _nul_character,
    "payload_violation": _payload_violation,
    "wrong_types": _wrong_types,
}


def _invalid_event(rng: random.Random, occurred_at: datetime, number: int, orders: list[str]) -> Event:
    event = _valid_event(rng, occurred_at, orders)
    # Rotate through the kinds so even a handful of invalid events shows every way of breaking the contract.
    breaker = tuple(INVALID_KINDS.values())[number % len(INVALID_KINDS)]
    breaker(event, rng)
    return event
