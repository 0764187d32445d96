"""Payload registries for the end-to-end test, loaded by the consumer through ``SLUICE_PAYLOAD_REGISTRY``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sluice_shared.catalog import default_registry
from sluice_shared.registry import PayloadRegistry, UnknownEventTypePolicy


class ShipmentDispatched(BaseModel):
    """``shipment.dispatched``: the event type the contract learns between the two runs."""

    model_config = ConfigDict(extra="forbid")

    shipment_id: str
    carrier: str


def strict() -> PayloadRegistry:
    """The built-in catalog's models (not its table sinks: this test is about the DLQ), rejecting other types."""
    return default_registry(unknown_event_types=UnknownEventTypePolicy.REJECT, sinks=False)


def relaxed() -> PayloadRegistry:
    """The strict registry plus ``shipment.dispatched``."""
    registry = strict()
    registry.register("shipment.dispatched", ShipmentDispatched)
    return registry
