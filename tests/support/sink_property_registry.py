"""The payload registry and tables of the sink property tests (``tests/integration/consumer/test_sink_properties.py``).

Three families of events, one table each, chosen to cover what the version guard promises:

- ``item.put`` upserts a whole row of ``prop_items`` and ``item.removed`` deletes it, both versioned by
  ``item_version`` (a full-row last-writer-wins register, deletes leaving tombstones);
- ``profile.named`` upserts ``prop_profiles`` (``name``, versioned by ``name_version``), ``profile.scored`` and
  ``profile.badged`` update disjoint column groups (``score`` by ``score_version``, ``badge`` by
  ``badge_version``): one last-writer-wins register per column group, no deletes;
- ``entry.logged`` appends to ``prop_log``, which has no unique key at all: only the ``events`` ledger keeps a
  redelivered or replayed event from being appended twice.

``SLUICE_PAYLOAD_REGISTRY=tests.support.sink_property_registry:registry``.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel

from sluice_shared.registry import PayloadRegistry
from sluice_shared.sinks import Sink, SinkMode

__all__ = ["REGISTRY", "SINK_TABLES", "TABLES", "registry"]

REGISTRY: Final = f"{__name__}:registry"

TABLES: Final = """
CREATE TABLE prop_items (
    item_id       text PRIMARY KEY,
    label         text,
    quantity      integer,
    item_version  timestamptz
);
CREATE TABLE prop_profiles (
    profile_id     text PRIMARY KEY,
    name           text,
    name_version   timestamptz,
    score          integer,
    score_version  timestamptz,
    badge          text,
    badge_version  timestamptz
);
CREATE TABLE prop_log (
    event_id  uuid NOT NULL,
    item      text,
    amount    integer
);
"""
SINK_TABLES: Final = ("prop_items", "prop_profiles", "prop_log")


class ItemPut(BaseModel):
    item_id: str
    label: str | None = None
    quantity: int


class ItemRemoved(BaseModel):
    item_id: str


class ProfileNamed(BaseModel):
    profile_id: str
    name: str | None = None


class ProfileScored(BaseModel):
    profile_id: str
    score: int


class ProfileBadged(BaseModel):
    profile_id: str
    badge: str | None = None


class EntryLogged(BaseModel):
    item: str
    amount: int


def registry() -> PayloadRegistry:
    """Models for the six event types and their sinks (see the module doc)."""
    found = PayloadRegistry()
    for event_type, model in (
        ("item.put", ItemPut),
        ("item.removed", ItemRemoved),
        ("profile.named", ProfileNamed),
        ("profile.scored", ProfileScored),
        ("profile.badged", ProfileBadged),
        ("entry.logged", EntryLogged),
    ):
        found.register(event_type, model)
    item_key = {"item_id": "payload.item_id"}
    found.sink(
        "item.put",
        Sink(
            table="prop_items",
            mode=SinkMode.UPSERT,
            key=("item_id",),
            columns={**item_key, "label": "payload.label", "quantity": "payload.quantity"},
            version_column="item_version",
        ),
    )
    found.sink(
        "item.removed",
        Sink(
            table="prop_items", mode=SinkMode.DELETE, key=("item_id",), columns=item_key, version_column="item_version"
        ),
    )
    profile_key = {"profile_id": "payload.profile_id"}
    for event_type, mode, column in (
        ("profile.named", SinkMode.UPSERT, "name"),
        ("profile.scored", SinkMode.UPDATE, "score"),
        ("profile.badged", SinkMode.UPDATE, "badge"),
    ):
        found.sink(
            event_type,
            Sink(
                table="prop_profiles",
                mode=mode,
                key=("profile_id",),
                columns={**profile_key, column: f"payload.{column}"},
                version_column=f"{column}_version",
            ),
        )
    found.sink(
        "entry.logged",
        Sink(
            table="prop_log",
            mode=SinkMode.INSERT,
            columns={"event_id": "event_id", "item": "payload.item", "amount": "payload.amount"},
        ),
    )
    return found
