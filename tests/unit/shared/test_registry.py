from __future__ import annotations

import pytest
from pydantic import BaseModel

from sluice_shared.catalog import CATALOG_REGISTRY, default_registry
from sluice_shared.contract import parse_message
from sluice_shared.errors import ConfigurationError, InvalidMessageError, UnknownEventTypeError
from sluice_shared.registry import PayloadRegistry, UnknownEventTypePolicy, load_registry
from sluice_shared.settings import ContractSettings
from tests.support.factories import event_body


class _Shipped(BaseModel):
    tracking: str


class _ShippedV2(BaseModel):
    tracking: str
    carrier: str


def test_unknown_event_type_is_accepted_by_default() -> None:
    envelope = parse_message(
        event_body(event_type="thing.happened", payload={"any": "shape"}), registry=default_registry()
    )

    assert envelope.payload == {"any": "shape"}


def test_unknown_event_type_is_rejected_under_the_reject_policy() -> None:
    registry = default_registry(unknown_event_types=UnknownEventTypePolicy.REJECT)

    with pytest.raises(UnknownEventTypeError) as caught:
        parse_message(event_body(event_type="thing.happened"), registry=registry)

    assert caught.value.field == "event_type"
    assert caught.value.code == "unknown_event_type"


def test_registering_a_model_makes_a_previously_rejected_type_valid() -> None:
    registry = PayloadRegistry(unknown_event_types=UnknownEventTypePolicy.REJECT)
    body = event_body(event_type="order.shipped", payload={"tracking": "T1"})
    with pytest.raises(UnknownEventTypeError):
        parse_message(body, registry=registry)

    registry.register("order.shipped", _Shipped)

    assert parse_message(body, registry=registry).payload == {"tracking": "T1"}


def test_version_specific_model_wins_over_the_any_version_model() -> None:
    registry = PayloadRegistry()
    registry.register("order.shipped", _Shipped)
    registry.register("order.shipped", _ShippedV2, schema_version=2)

    parse_message(event_body(event_type="order.shipped", payload={"tracking": "T1"}), registry=registry)
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(
            event_body(event_type="order.shipped", schema_version=2, payload={"tracking": "T1"}), registry=registry
        )

    assert caught.value.field == "payload.carrier"


def test_registering_the_same_type_and_version_twice_is_refused() -> None:
    registry = PayloadRegistry()
    registry.register("order.shipped", _Shipped)

    with pytest.raises(ValueError, match="already registered"):
        registry.register("order.shipped", _Shipped)


def test_invalid_event_type_name_cannot_be_registered() -> None:
    with pytest.raises(ValueError, match="not a valid event type"):
        PayloadRegistry().register("Shipped", _Shipped)


def custom_registry() -> PayloadRegistry:
    registry = PayloadRegistry()
    registry.register("order.shipped", _Shipped)
    return registry


def test_registry_loads_from_an_import_path_and_takes_the_policy_override() -> None:
    registry = load_registry(f"{__name__}:custom_registry", policy=UnknownEventTypePolicy.REJECT)

    assert "order.shipped" in registry
    assert registry.unknown_event_types is UnknownEventTypePolicy.REJECT


@pytest.mark.parametrize(
    "spec", ["no_colon", "missing.module:thing", f"{__name__}:nothing_here", f"{__name__}:_Shipped"]
)
def test_unloadable_registry_is_a_configuration_error(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        load_registry(spec)


def test_settings_build_the_configured_registry_with_the_policy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLUICE_PAYLOAD_REGISTRY", CATALOG_REGISTRY)
    monkeypatch.setenv("SLUICE_UNKNOWN_EVENT_TYPES", "reject")
    monkeypatch.setenv("SLUICE_REDACT_FIELDS", "email, card_number")

    settings = ContractSettings()

    assert settings.build_registry().unknown_event_types is UnknownEventTypePolicy.REJECT
    assert "order.created" in settings.build_registry()
    assert settings.redact_fields == ("email", "card_number")


def test_unset_registry_means_no_payload_models_and_unknown_types_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_PAYLOAD_REGISTRY", raising=False)
    monkeypatch.delenv("SLUICE_UNKNOWN_EVENT_TYPES", raising=False)

    registry = ContractSettings().build_registry()

    assert list(registry) == []
    assert registry.unknown_event_types is UnknownEventTypePolicy.ACCEPT


def test_order_created_unlike_the_sample_model_is_valid_under_default_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a payload that the sample catalog's OrderCreated refuses (no customer_id, currency, lines ...)
    monkeypatch.delenv("SLUICE_PAYLOAD_REGISTRY", raising=False)
    body = event_body(event_type="order.created", payload={"orderNumber": 17, "items": "three"})
    with pytest.raises(InvalidMessageError):
        parse_message(body, registry=default_registry())

    # when it is validated under default settings, then only the envelope is checked
    envelope = parse_message(body, registry=ContractSettings().build_registry())

    assert envelope.payload == {"orderNumber": 17, "items": "three"}


def test_unset_registry_follows_the_reject_policy_for_every_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICE_PAYLOAD_REGISTRY", raising=False)
    monkeypatch.setenv("SLUICE_UNKNOWN_EVENT_TYPES", "reject")

    with pytest.raises(UnknownEventTypeError):
        parse_message(event_body(event_type="order.created"), registry=ContractSettings().build_registry())
