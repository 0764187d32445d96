"""The SQL the local pipeline's demo runs against the consumer's tables (read-only)."""

from __future__ import annotations

from typing import Final, LiteralString

__all__ = ["SELECT_CATALOG_EVENTS", "SELECT_ORDERS", "SELECT_PAYMENTS", "SELECT_STORED"]

# Which of the given event ids are stored, and when the consumer committed each.
SELECT_STORED: Final[LiteralString] = (
    "SELECT event_id::text, received_at FROM events WHERE event_id = ANY(%(event_ids)s::uuid[])"
)

# The sample catalog's sink tables and the events that fill them (the demo's reconciliation).
SELECT_CATALOG_EVENTS: Final = """
SELECT event_type, occurred_at, payload FROM events
WHERE event_type IN ('order.created', 'order.cancelled', 'payment.captured')
"""
SELECT_ORDERS: Final = """
SELECT order_id, customer_id, currency, total_cents, line_count, placed_at, status, cancel_reason FROM orders
"""
SELECT_PAYMENTS: Final = "SELECT payment_id, order_id, currency, amount_cents, captured_at FROM payments"
