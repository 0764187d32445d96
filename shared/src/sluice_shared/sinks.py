"""Table sinks: where a validated event lands in the user's own relational tables, declared next to its model.

A :class:`Sink` says which table an event type writes, how each column is filled and in which mode::

    registry.register("order.created", OrderCreated)
    registry.sink(
        "order.created",
        Sink(
            table="shop.orders",
            mode=SinkMode.UPSERT,
            key=("order_id",),
            columns={
                "order_id": "payload.order_id",            # a dotted path into the payload
                "total_cents": "payload.total_cents",
                "placed_at": "occurred_at",                # an envelope field
                "line_count": computed(lambda event: len(event.payload["lines"])),
            },
            version_column="order_version",                # holds the version: occurred_at by default
        ),
    )

Modes: ``insert`` appends (a row whose key already exists is a duplicate, not an error); ``upsert`` inserts or
updates on the key; ``update`` changes existing rows only; ``delete`` removes rows. Upsert, update and delete
are version-guarded: a row remembers, in ``version_column``, the version of the event that last wrote it, and an
older event never overwrites a newer one, whatever the delivery order. Sinks are validated when declared
(names, modes, keys, payload paths against the registered model) and against the live database by
``sluice sinks check``; the consumer writes them in bulk, in the transaction that records the events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from sluice_shared.contract import EventEnvelope

__all__ = [
    "ENVELOPE_FIELDS",
    "ColumnSource",
    "Computed",
    "EnvelopeField",
    "OnMissingRow",
    "PayloadPath",
    "Sink",
    "SinkEvent",
    "SinkMode",
    "computed",
    "constant",
    "parse_source",
]

# PostgreSQL identifiers: letters, digits, underscores and dollar signs, at most 63 bytes (NAMEDATALEN - 1).
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_PAYLOAD_PREFIX: Final = "payload."
ENVELOPE_FIELDS: Final = ("event_id", "event_type", "source", "occurred_at", "schema_version")


class SinkMode(StrEnum):
    """How a sink writes its table."""

    INSERT = "insert"
    """Append; a row whose key (or any unique index) already exists is a duplicate, not an error."""
    UPSERT = "upsert"
    """Insert, or update the row with the same key when this event's version is newer."""
    UPDATE = "update"
    """Change the existing row with the same key when this event's version is newer; never insert."""
    DELETE = "delete"
    """Remove the row with the same key when this event's version is newer; a tombstone keeps older events out."""

    @property
    def versioned(self) -> bool:
        """True for the modes that need a key and a version column."""
        return self is not SinkMode.INSERT


class OnMissingRow(StrEnum):
    """What an ``update`` or ``delete`` does when no row has its key."""

    RETRY = "retry"
    """Retry the message (its row may come in a later message), then dead-letter it as ``missing_row``."""
    DEAD_LETTER = "dead_letter"
    """Dead-letter the message at once with code ``missing_row``."""
    IGNORE = "ignore"
    """Count it and go on."""


@dataclass(frozen=True, slots=True)
class SinkEvent:
    """What a computed column sees: the validated envelope and its payload (the model instance when one is
    registered for the event type, else the payload as a dict)."""

    envelope: EventEnvelope
    payload: Any


@dataclass(frozen=True, slots=True)
class PayloadPath:
    """A value inside the payload, by dotted path (``payload.shipping.address.city``)."""

    path: tuple[str, ...]

    def read(self, event: SinkEvent) -> Any:
        """The value at the path in the payload as it arrived, or ``None`` where the path does not lead."""
        value: Any = event.envelope.payload
        for part in self.path:
            if isinstance(value, Mapping):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value

    def __str__(self) -> str:
        return _PAYLOAD_PREFIX + ".".join(self.path)


@dataclass(frozen=True, slots=True)
class EnvelopeField:
    """One of the envelope's fields (:data:`ENVELOPE_FIELDS`)."""

    name: str

    def read(self, event: SinkEvent) -> Any:
        """The field's validated value (``occurred_at`` as an aware datetime, ``event_id`` as a UUID)."""
        return getattr(event.envelope, self.name)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Computed:
    """A value computed from the validated event by a small function."""

    function: Callable[[SinkEvent], Any]
    description: str = "computed"

    def read(self, event: SinkEvent) -> Any:
        """Call the function (an exception is a bug in the sink's declaration, and is raised as one)."""
        return self.function(event)

    def __str__(self) -> str:
        return self.description


ColumnSource = PayloadPath | EnvelopeField | Computed


def computed(function: Callable[[SinkEvent], Any], *, description: str | None = None) -> Computed:
    """A column filled by ``function(event)``; ``event.payload`` is the validated model when one is registered."""
    return Computed(function, description or str(getattr(function, "__name__", "computed")))


def constant(value: Any) -> Computed:
    """A column filled with the same value for every event (``status = 'cancelled'``)."""
    return Computed(lambda _event: value, f"constant {value!r}")


def parse_source(source: str | ColumnSource) -> ColumnSource:
    """``"payload.a.b"``, an envelope field name, or a source object, as a source object.

    Raises:
        ConfigurationError: the text is neither a payload path nor an envelope field.
    """
    if not isinstance(source, str):
        return source
    if source.startswith(_PAYLOAD_PREFIX):
        parts = tuple(source.removeprefix(_PAYLOAD_PREFIX).split("."))
        if all(parts):
            return PayloadPath(parts)
    elif source in ENVELOPE_FIELDS:
        return EnvelopeField(source)
    raise ConfigurationError(
        f"sink source {source!r} is neither 'payload.<path>' nor an envelope field ({', '.join(ENVELOPE_FIELDS)})"
    )


@dataclass(frozen=True, kw_only=True)
class Sink:
    """One table an event type writes: the table, the mode, the key, each column's source and the version.

    Raises:
        ConfigurationError: a name is not a valid identifier, a versioned mode lacks its key or version column,
            a key column is not mapped, or a source cannot be parsed.
    """

    table: str
    """The target table, optionally schema-qualified (``shop.orders``)."""
    mode: SinkMode
    columns: Mapping[str, str | ColumnSource]
    """Column name -> source: ``"payload.<dotted path>"``, an envelope field, :func:`computed` or :func:`constant`.
    Columns not named keep their defaults."""
    key: tuple[str, ...] = ()
    """Columns of a unique index identifying the row; required for upsert, update and delete."""
    version_column: str | None = None
    """The column that holds the version of the event that last wrote the row; required for upsert, update, delete."""
    version: str | ColumnSource = "occurred_at"
    """Where an event's version comes from: ``occurred_at`` by default, or a payload field."""
    on_missing: OnMissingRow | None = None
    """For update and delete: what a message whose row does not exist means. Default: ``retry`` for update (its
    row may come in a later message), ``ignore`` for delete (its tombstone keeps an older row out anyway)."""
    sources: Mapping[str, ColumnSource] = field(init=False, repr=False)
    version_source: ColumnSource = field(init=False, repr=False)

    def __post_init__(self) -> None:
        mode = SinkMode(self.mode)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "key", tuple(self.key))
        where = f"sink on {self.table!r}"
        parts = self.table.split(".")
        if len(parts) > 2 or not all(_IDENTIFIER.match(part) for part in parts):  # noqa: PLR2004 - schema.table
            raise ConfigurationError(f"{where}: the table must be 'name' or 'schema.name' of plain identifiers")
        if not self.columns:
            raise ConfigurationError(f"{where}: it maps no columns")
        named = [*self.columns, *self.key, *([self.version_column] if self.version_column else [])]
        bad = [name for name in named if not _IDENTIFIER.match(name)]
        if bad:
            raise ConfigurationError(f"{where}: not plain identifiers: {', '.join(map(repr, bad))}")
        if mode.versioned and (not self.key or not self.version_column):
            raise ConfigurationError(f"{where}: mode {mode.value} needs a key and a version_column")
        unmapped = [column for column in self.key if column not in self.columns]
        if unmapped:
            raise ConfigurationError(f"{where}: key columns {', '.join(unmapped)} are not mapped")
        if self.on_missing is not None and self.mode not in {SinkMode.UPDATE, SinkMode.DELETE}:
            raise ConfigurationError(f"{where}: on_missing applies to update and delete sinks only")
        if self.version_column in self.columns:
            raise ConfigurationError(
                f"{where}: {self.version_column!r} is the version column; it is filled from `version`, not mapped"
            )
        object.__setattr__(self, "sources", {name: parse_source(source) for name, source in self.columns.items()})
        object.__setattr__(self, "version_source", parse_source(self.version))

    @property
    def missing_row_policy(self) -> OnMissingRow:
        """What a missing row means for this sink (see ``on_missing``); insert and upsert never miss one."""
        if self.on_missing is not None:
            return self.on_missing
        return OnMissingRow.RETRY if self.mode is SinkMode.UPDATE else OnMissingRow.IGNORE

    @property
    def schema_name(self) -> str:
        """The table's schema, ``public`` when not qualified."""
        return self.table.split(".")[0] if "." in self.table else "public"

    @property
    def table_name(self) -> str:
        """The table's own name, without its schema."""
        return self.table.split(".")[-1]

    @property
    def written_columns(self) -> tuple[str, ...]:
        """Every column this sink writes, the version column last."""
        return (*self.columns, *([self.version_column] if self.version_column else []))

    def check_against(self, model: type[BaseModel] | None, *, event_type: str) -> None:
        """Check the payload paths against ``model``'s fields (nested models followed) when there is one.

        Raises:
            ConfigurationError: a path names a field the model does not declare (and forbids extras).
        """
        if model is None:
            return
        for name, source in (*self.sources.items(), ("version", self.version_source)):
            if isinstance(source, PayloadPath) and not _model_has_path(model, source.path):
                raise ConfigurationError(
                    f"sink on {self.table!r} for {event_type!r}: {name} reads {source}, which "
                    f"{model.__name__} does not declare"
                )


def _model_has_path(model: type[BaseModel], path: tuple[str, ...]) -> bool:
    current: Any = model
    for part in path:
        if part.isdigit():
            continue  # an index into a list: the element's model is already the current one
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return True  # below a free-form field (dict, list, Any): the path cannot be checked, nor refused
        fields = current.model_fields
        if part not in fields:
            return current.model_config.get("extra") == "allow"
        current = _inner_model(fields[part].annotation)
    return True


def _inner_model(annotation: Any) -> Any:
    """The model inside ``Model``, ``Model | None``, ``Annotated[Model, ...]``; else the annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        if isinstance(argument, type) and issubclass(argument, BaseModel):
            return argument
    origin = getattr(annotation, "__origin__", None)
    return _inner_model(origin) if origin is not None and origin is not annotation else annotation
