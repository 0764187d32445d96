"""A payload registry with table sinks in every mode, and the tables it writes, for the sink tests.

``SLUICE_PAYLOAD_REGISTRY=tests.support.sink_registry:registry``. The tables are created by :data:`TABLES` (what a
user's own migration would hold): ``orders`` (upserted on ``order.created``, its status updated on
``order.cancelled``, removed on ``order.deleted``), ``payments`` (inserted on ``payment.captured``, a foreign key
to ``orders``) and ``order_log`` (an append-only log with no unique key at all).
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

from sluice_shared.registry import PayloadRegistry
from sluice_shared.sinks import Sink, SinkMode, computed, constant

__all__ = ["REGISTRY", "TABLES", "registry"]

REGISTRY: Final = f"{__name__}:registry"

TABLES: Final = """
CREATE TABLE orders (
    order_id        text        PRIMARY KEY,
    customer_id     text        NOT NULL,
    currency        char(3),
    total_cents     bigint      NOT NULL CONSTRAINT orders_total_not_negative CHECK (total_cents >= 0),
    line_count      integer,
    note            varchar(10),
    placed_at       timestamptz,
    status          text        NOT NULL DEFAULT 'created',
    order_version   timestamptz,
    status_version  timestamptz
);
CREATE TABLE payments (
    payment_id    text   PRIMARY KEY,
    order_id      text   NOT NULL CONSTRAINT payments_order_fk REFERENCES orders (order_id),
    amount_cents  bigint NOT NULL
);
CREATE TABLE order_log (
    order_id  text,
    kind      text,
    logged_at timestamptz
);
"""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class Line(_Payload):
    sku: str


class OrderCreated(_Payload):
    order_id: str
    customer_id: str | None = None
    total_cents: int
    note: str | None = None
    lines: list[Line] = []


class OrderRef(_Payload):
    order_id: str


class PaymentCaptured(_Payload):
    payment_id: str
    order_id: str
    amount_cents: int


def registry() -> PayloadRegistry:
    """The registry: models for four event types and a sink in each mode."""
    found = PayloadRegistry()
    found.register("order.created", OrderCreated)
    found.register("order.cancelled", OrderRef)
    found.register("order.deleted", OrderRef)
    found.register("payment.captured", PaymentCaptured)
    found.sink(
        "order.created",
        Sink(
            table="orders",
            mode=SinkMode.UPSERT,
            key=("order_id",),
            columns={
                "order_id": "payload.order_id",
                "customer_id": "payload.customer_id",
                "currency": "payload.currency",
                "total_cents": "payload.total_cents",
                "note": "payload.note",
                "placed_at": "occurred_at",
                "line_count": computed(lambda event: len(event.payload.lines), description="len(lines)"),
            },
            version_column="order_version",
        ),
    )
    found.sink(
        "order.created",
        Sink(
            table="order_log",
            mode=SinkMode.INSERT,
            columns={"order_id": "payload.order_id", "kind": constant("created"), "logged_at": "occurred_at"},
        ),
    )
    found.sink(
        "order.cancelled",
        Sink(
            table="orders",
            mode=SinkMode.UPDATE,
            key=("order_id",),
            columns={"order_id": "payload.order_id", "status": constant("cancelled")},
            version_column="status_version",
        ),
    )
    found.sink(
        "order.deleted",
        Sink(
            table="orders",
            mode=SinkMode.DELETE,
            key=("order_id",),
            columns={"order_id": "payload.order_id"},
            version_column="order_version",
        ),
    )
    found.sink(
        "payment.captured",
        Sink(
            table="payments",
            mode=SinkMode.INSERT,
            key=("payment_id",),
            columns={
                "payment_id": "payload.payment_id",
                "order_id": "payload.order_id",
                "amount_cents": "payload.amount_cents",
            },
        ),
    )
    return found
