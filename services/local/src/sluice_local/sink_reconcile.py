"""The demo's table sinks: send some references ahead of what they refer to, then reconcile the tables.

The sample catalog writes ``orders`` (upserted on ``order.created``, its status updated on
``order.cancelled``) and ``payments`` (inserted on ``payment.captured``, a foreign key to ``orders``). After the
demo's queue drains, :func:`reconcile_catalog_tables` computes what those tables must hold from the events
stored in ``events`` (the ledger), applying each sink's rule in version order, and compares them row for row:
one row off, one value off, and the demo does not reconcile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sluice_local.repository import SELECT_CATALOG_EVENTS, SELECT_ORDERS, SELECT_PAYMENTS

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["TableReconciliation", "reconcile_catalog_tables", "references_first"]

REFERRING_TYPES: Final = ("order.cancelled", "payment.captured")
# Differences listed per table, at most (the count says how many there are).
MAX_LISTED: Final = 3


@dataclass(slots=True)
class TableReconciliation:
    """One sink table: its rows, the rows the stored events imply, and where they differ."""

    table: str
    rows: int
    expected: int
    differences: list[str] = field(default_factory=list)
    difference_count: int = 0

    @property
    def reconciled(self) -> bool:
        """True when the table holds exactly the expected rows."""
        return self.difference_count == 0


def references_first(events: Sequence[dict[str, Any]], *, count: int) -> list[dict[str, Any]]:
    """``events`` with ``count`` cancellations and payments moved to the front, ahead of the orders they name.

    The consumer then meets them before their order exists: the cancellation's update finds no row and the
    payment's foreign key no parent, so both are retried until the order is in (SQS standard queues reorder
    like this on their own; the demo makes sure it happens).
    """
    chosen = [index for index, event in enumerate(events) if event.get("event_type") in REFERRING_TYPES][:count]
    picked = set(chosen)
    return [events[index] for index in chosen] + [event for index, event in enumerate(events) if index not in picked]


def reconcile_catalog_tables(conninfo: str) -> list[TableReconciliation]:
    """Compare ``orders`` and ``payments`` with what the events stored in ``events`` imply."""
    import psycopg  # noqa: PLC0415 - only once the pipeline (and so psycopg) is loaded

    with psycopg.connect(conninfo) as conn:
        events = conn.execute(SELECT_CATALOG_EVENTS).fetchall()
        orders = {row[0]: tuple(row[1:]) for row in conn.execute(SELECT_ORDERS)}
        payments = {row[0]: tuple(row[1:]) for row in conn.execute(SELECT_PAYMENTS)}
    expected_orders, expected_payments = _expected(events)
    return [_compare("orders", orders, expected_orders), _compare("payments", payments, expected_payments)]


def _expected(
    events: Sequence[tuple[str, datetime, Any]],
) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """Each sink's rule, applied to the stored events in version (``occurred_at``) order."""
    created: dict[str, tuple[datetime, dict[str, Any]]] = {}
    cancelled: dict[str, tuple[datetime, str]] = {}
    payments: dict[str, tuple[Any, ...]] = {}
    for event_type, occurred_at, raw in sorted(events, key=lambda event: event[1]):
        payload = raw if isinstance(raw, dict) else json.loads(raw)
        if event_type == "order.created":
            created[payload["order_id"]] = (occurred_at, payload)  # upsert: the newest version wins
        elif event_type == "order.cancelled":
            cancelled[payload["order_id"]] = (occurred_at, payload["reason"])  # its own version column
        elif payload["payment_id"] not in payments:  # insert: the first one in stays
            payments[payload["payment_id"]] = (
                payload["order_id"],
                payload["currency"],
                payload["amount_cents"],
                occurred_at,
            )
    orders: dict[str, tuple[Any, ...]] = {}
    for order_id, (occurred_at, payload) in created.items():
        cancellation = cancelled.get(order_id)
        orders[order_id] = (
            payload["customer_id"],
            payload["currency"],
            payload["total_cents"],
            len(payload["lines"]),
            occurred_at,
            "cancelled" if cancellation else "placed",
            cancellation[1] if cancellation else None,
        )
    # A payment whose order never came is retried, then dead-lettered: it has no row.
    return orders, {key: row for key, row in payments.items() if row[0] in orders}


def _compare(
    table: str, actual: dict[str, tuple[Any, ...]], expected: dict[str, tuple[Any, ...]]
) -> TableReconciliation:
    result = TableReconciliation(table, rows=len(actual), expected=len(expected))
    for key in sorted(actual.keys() | expected.keys()):
        have, want = actual.get(key), expected.get(key)
        if have == want:
            continue
        result.difference_count += 1
        if len(result.differences) < MAX_LISTED:
            result.differences.append(f"{key}: {have!r} != expected {want!r}")
    return result
