"""Sluice's sample payload models: a small e-commerce catalog used by the sample generator and the demo.

They are used only where asked for: ``SLUICE_PAYLOAD_REGISTRY=sluice_shared.catalog:default_registry``
(:data:`CATALOG_REGISTRY`), which ``sluice local demo`` and ``sluice local up`` set. With the setting unset a
deployment has no payload models at all. These models are also a template for writing a registry. Extra
payload fields are allowed so producers can add fields before consumers know them (forward-compatible
evolution).

The catalog also shows table sinks: ``order.created`` upserts ``orders``, ``order.cancelled`` updates its
status (version-guarded by its own column), ``payment.captured`` inserts into ``payments`` (a foreign key to
``orders``). The tables come from the migrations beside this module (:data:`CATALOG_MIGRATIONS`).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sluice_shared.registry import PayloadRegistry, UnknownEventTypePolicy
from sluice_shared.sinks import Sink, SinkEvent, SinkMode, computed, constant

__all__ = [
    "CATALOG_MIGRATIONS",
    "CATALOG_REGISTRY",
    "OrderCancelled",
    "OrderCreated",
    "OrderLine",
    "PaymentCaptured",
    "UserSignedUp",
    "default_registry",
]

# The ``SLUICE_PAYLOAD_REGISTRY`` value that selects this catalog, and the ``SLUICE_APP_MIGRATIONS`` value of the
# tables its sinks write.
CATALOG_REGISTRY: Final = "sluice_shared.catalog:default_registry"
CATALOG_MIGRATIONS: Final = "sluice_shared.catalog:migrations"

Identifier = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
Currency = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z]{3}$")]
Cents = Annotated[int, Field(strict=True, ge=0, le=10**12)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class OrderLine(_Payload):
    """One line of an order."""

    sku: Identifier
    quantity: Annotated[int, Field(strict=True, ge=1, le=10_000)]
    unit_price_cents: Cents


class OrderCreated(_Payload):
    """``order.created``: a customer placed an order."""

    order_id: Identifier
    customer_id: Identifier
    currency: Currency
    total_cents: Cents
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]


class OrderCancelled(_Payload):
    """``order.cancelled``: an order was cancelled before shipping."""

    order_id: Identifier
    reason: Annotated[str, StringConstraints(strict=True, max_length=500)]


class PaymentCaptured(_Payload):
    """``payment.captured``: money for an order was taken."""

    payment_id: Identifier
    order_id: Identifier
    currency: Currency
    amount_cents: Cents


class UserSignedUp(_Payload):
    """``user.signed_up``: a new account was created."""

    user_id: Identifier
    email: Annotated[str, StringConstraints(strict=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    plan: Literal["free", "pro", "enterprise"]


def default_registry(
    *, unknown_event_types: UnknownEventTypePolicy = UnknownEventTypePolicy.ACCEPT, sinks: bool = True
) -> PayloadRegistry:
    """A new registry holding the sample catalog's models and (unless ``sinks`` is false) its table sinks."""
    registry = PayloadRegistry(unknown_event_types=unknown_event_types)
    registry.register("order.created", OrderCreated)
    registry.register("order.cancelled", OrderCancelled)
    registry.register("payment.captured", PaymentCaptured)
    registry.register("user.signed_up", UserSignedUp)
    if sinks:
        _declare_sinks(registry)
    return registry


def _declare_sinks(registry: PayloadRegistry) -> None:
    # orders first: payments' foreign key then finds an order created in the same batch.
    registry.sink(
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
                "line_count": computed(_line_count, description="number of lines"),
                "placed_at": "occurred_at",
            },
            version_column="order_version",
        ),
    )
    registry.sink(
        "order.cancelled",
        Sink(
            table="orders",
            mode=SinkMode.UPDATE,
            key=("order_id",),
            columns={
                "order_id": "payload.order_id",
                "status": constant("cancelled"),
                "cancel_reason": "payload.reason",
            },
            version_column="status_version",
        ),
    )
    registry.sink(
        "payment.captured",
        Sink(
            table="payments",
            mode=SinkMode.INSERT,
            key=("payment_id",),
            columns={
                "payment_id": "payload.payment_id",
                "order_id": "payload.order_id",
                "currency": "payload.currency",
                "amount_cents": "payload.amount_cents",
                "captured_at": "occurred_at",
            },
        ),
    )


def _line_count(event: SinkEvent) -> int:
    order: OrderCreated = event.payload
    return len(order.lines)
