"""Typed payloads: a registry mapping ``event_type`` (and optionally ``schema_version``) to a payload model.

Users plug in their own schemas by pointing ``SLUICE_PAYLOAD_REGISTRY`` at ``package.module:attribute``,
where the attribute is a :class:`PayloadRegistry` or a zero-argument callable returning one. Events whose
type has no model follow :class:`UnknownEventTypePolicy`: ``accept`` (the default) stores the payload as
free-form JSON; ``reject`` sends the message to the dead-letter queue with code ``unknown_event_type``, from
where it can be replayed once a model is registered.

Payload models validate; Sluice stores the payload exactly as it arrived (no coercion is written back).
"""

from __future__ import annotations

import importlib
import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ValidationError

from sluice_shared.contract import EVENT_TYPE_PATTERN, EventEnvelope, field_errors
from sluice_shared.errors import ConfigurationError, InvalidMessageError, UnknownEventTypeError

if TYPE_CHECKING:
    from sluice_shared.sinks import Sink

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["PayloadRegistry", "UnknownEventTypePolicy", "contract_json_schema", "load_registry"]

_EVENT_TYPE: Final = re.compile(EVENT_TYPE_PATTERN)


class UnknownEventTypePolicy(StrEnum):
    """What happens to an event whose type has no registered payload model."""

    ACCEPT = "accept"
    """Store it; the payload only has to be a JSON object."""
    REJECT = "reject"
    """Treat it as a permanent failure: dead-letter it with code ``unknown_event_type``."""


class PayloadRegistry:
    """Maps event types (optionally per schema version) to pydantic payload models."""

    def __init__(self, *, unknown_event_types: UnknownEventTypePolicy = UnknownEventTypePolicy.ACCEPT) -> None:
        self.unknown_event_types = unknown_event_types
        self._models: dict[tuple[str, int | None], type[BaseModel]] = {}
        self._sinks: dict[tuple[str, int | None], tuple[Sink, ...]] = {}

    def register(self, event_type: str, model: type[BaseModel], *, schema_version: int | None = None) -> None:
        """Register ``model`` for ``event_type``; ``schema_version=None`` covers every version not named.

        Raises:
            ValueError: the event type is not a valid dotted name, or is already registered for that version.
        """
        if not _EVENT_TYPE.fullmatch(event_type):
            raise ValueError(f"{event_type!r} is not a valid event type (expected e.g. 'order.created')")
        key = (event_type, schema_version)
        if key in self._models:
            raise ValueError(f"{event_type!r} (schema_version {schema_version}) is already registered")
        self._models[key] = model

    def sink(self, event_type: str, sink: Sink, *, schema_version: int | None = None) -> None:
        """Write events of ``event_type`` (``schema_version=None``: every version not named) to ``sink`` too.

        Several sinks per event type are written in the order they were declared. Register the payload model
        first: the sink's payload paths are checked against it.

        Raises:
            ValueError: the event type is not a valid dotted name.
            ConfigurationError: a payload path names a field the registered model does not declare.
        """
        if not _EVENT_TYPE.fullmatch(event_type):
            raise ValueError(f"{event_type!r} is not a valid event type (expected e.g. 'order.created')")
        model = self._models.get((event_type, schema_version)) or self._models.get((event_type, None))
        sink.check_against(model, event_type=event_type)
        key = (event_type, schema_version)
        self._sinks[key] = (*self._sinks.get(key, ()), sink)

    def sinks_for(self, event_type: str, schema_version: int) -> tuple[Sink, ...]:
        """The sinks of this type and version: those declared for exactly the version, else the any-version ones."""
        return self._sinks.get((event_type, schema_version)) or self._sinks.get((event_type, None)) or ()

    @property
    def sinks(self) -> tuple[tuple[str, int | None, Sink], ...]:
        """Every declared sink with its event type and schema version (``None``: any), in declaration order."""
        return tuple(
            (event_type, version, sink) for (event_type, version), sinks in self._sinks.items() for sink in sinks
        )

    def model_for(self, event_type: str, schema_version: int) -> type[BaseModel] | None:
        """The model for this type and version: an exact version match first, then the any-version model."""
        return self._models.get((event_type, schema_version)) or self._models.get((event_type, None))

    def with_policy(self, policy: UnknownEventTypePolicy) -> PayloadRegistry:
        """A copy of this registry with another unknown-type policy."""
        copy = PayloadRegistry(unknown_event_types=policy)
        copy._models = dict(self._models)
        copy._sinks = dict(self._sinks)
        return copy

    def __iter__(self) -> Iterator[tuple[str, int | None, type[BaseModel]]]:
        for (event_type, version), model in sorted(
            self._models.items(), key=lambda item: (item[0][0], item[0][1] or 0)
        ):
            yield event_type, version, model

    def __contains__(self, event_type: object) -> bool:
        return any(key[0] == event_type for key in self._models)

    def check(self, envelope: EventEnvelope) -> None:
        """Validate the envelope's payload against its model, or apply the unknown-type policy.

        Raises:
            UnknownEventTypeError: no model is registered and the policy is ``reject``.
            InvalidMessageError: the payload does not satisfy its model (fields named ``payload.<path>``).
        """
        self.validate(envelope)

    def validate(self, envelope: EventEnvelope) -> BaseModel | None:
        """:meth:`check`, returning the validated payload model (``None`` for a type without a model).

        The model is what a sink's computed columns see; the payload is stored as it arrived either way.
        """
        model = self.model_for(envelope.event_type, envelope.schema_version)
        if model is None:
            if self.unknown_event_types is UnknownEventTypePolicy.REJECT:
                raise UnknownEventTypeError.single(
                    "event_type",
                    f"no payload model is registered for {envelope.event_type!r} "
                    f"(schema_version {envelope.schema_version}) and unknown event types are rejected",
                )
            return None
        try:
            return model.model_validate(envelope.payload)
        except ValidationError as exc:
            raise InvalidMessageError(field_errors(exc, prefix="payload")) from exc


def load_registry(spec: str, *, policy: UnknownEventTypePolicy | None = None) -> PayloadRegistry:
    """Import a registry named ``package.module:attribute`` (a registry or a callable returning one).

    Raises:
        ConfigurationError: the module or attribute cannot be imported, or is not a registry.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(f"payload registry {spec!r} must look like 'package.module:attribute'")
    try:
        target: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot import payload registry {spec!r}: {exc}") from exc
    # A factory function is called; a class (even a callable one) or any other object is taken as it is.
    if callable(target) and not isinstance(target, PayloadRegistry | type):
        try:
            registry = target()
        except Exception as exc:
            raise ConfigurationError(f"payload registry factory {spec!r} failed: {exc}") from exc
    else:
        registry = target
    if not isinstance(registry, PayloadRegistry):
        raise ConfigurationError(f"payload registry {spec!r} is a {type(registry).__name__}, not a PayloadRegistry")
    return registry if policy is None else registry.with_policy(policy)


def contract_json_schema(registry: PayloadRegistry | None = None) -> dict[str, Any]:
    """The envelope as JSON Schema (draft 2020-12), with each registered payload model under ``$defs``.

    Producers in other languages validate the envelope with the top-level schema, and a payload with the
    definition named in ``x-sluice-payloads`` for its ``event_type`` and ``schema_version``.
    """
    schema = EventEnvelope.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    if registry is None:
        return schema
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    index: list[dict[str, Any]] = []
    for event_type, version, model in registry:
        name = f"{event_type.replace('.', '_')}_v{version}" if version else event_type.replace(".", "_")
        model_schema = model.model_json_schema(ref_template=f"#/$defs/{name}__{{model}}")
        for sub_name, sub_schema in model_schema.pop("$defs", {}).items():
            defs[f"{name}__{sub_name}"] = sub_schema
        defs[name] = model_schema
        index.append({"event_type": event_type, "schema_version": version, "$ref": f"#/$defs/{name}"})
    schema["x-sluice-payloads"] = index
    schema["x-sluice-unknown-event-types"] = registry.unknown_event_types.value
    return schema
