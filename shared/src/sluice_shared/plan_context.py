"""The CDK context a deployment plan is handed over in: ``sluice plan --cdk-context`` writes it, the stack reads it.

One value, under :data:`PLAN_CONTEXT_KEY`, so a plan is applied whole or not at all: its batch size, batching
window, timeout, memory and maximum concurrency were sized together, with the instance class and
``max_connections`` whose proxy budget admits that concurrency. The stack applies it to one stage (``stage``)
and refuses it when its own budget arithmetic would give a different concurrency.

The value may be a JSON object (``cdk.json``, ``cdk.context.json``) or the same object as a JSON string
(``-c sluice:plan='{...}'``: the CDK CLI passes ``-c`` values as strings).
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from sluice_shared.errors import ConfigurationError

__all__ = ["LOG_RETENTION_DAYS", "PLAN_CONTEXT_KEY", "PlanContext"]

PLAN_CONTEXT_KEY: Final = "sluice:plan"
# The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days.
LOG_RETENTION_DAYS: Final = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class PlanContext(BaseModel):
    """What a plan fixes in one stage of the stack; field names are camelCase in the context."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )

    stage: str = Field(min_length=1)
    fifo: bool
    batch_size: int = Field(ge=1, le=10_000)
    batching_window_seconds: int = Field(ge=0, le=300)
    consumer_timeout_seconds: int = Field(ge=1, le=900)
    consumer_memory_mib: int = Field(ge=128, le=10_240)
    max_concurrency: int = Field(ge=2, le=1_000)
    instance_type: str = Field(min_length=1)
    max_connections: int = Field(ge=1, le=5_000)
    proxy_max_connections_percent: int = Field(ge=1, le=100)
    reserved_connections: int = Field(ge=0)
    multi_az: bool
    allocated_storage_gib: int = Field(ge=20, le=65_536)
    max_allocated_storage_gib: int = Field(ge=21, le=65_536)
    network: Literal["endpoints", "nat"]
    nat_gateways: int = Field(ge=0, le=2)
    log_retention_days: int
    tracing: bool

    @field_validator("log_retention_days")
    @classmethod
    def _retention_must_be_cloudwatch_s(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} days is not a CloudWatch Logs retention period")
        return value

    def to_context(self) -> dict[str, Any]:
        """``{"sluice:plan": {...}}``: what ``--cdk-context`` prints and ``cdk.context.json`` may hold."""
        return {PLAN_CONTEXT_KEY: self.model_dump(mode="json", by_alias=True)}

    @classmethod
    def from_context_value(cls, value: object) -> PlanContext | None:
        """The plan held by a ``sluice:plan`` context value (an object or its JSON text); None when absent.

        Raises:
            ConfigurationError: the value is not a plan (bad JSON, unknown or missing field, wrong type).
        """
        if value is None:
            return None
        try:
            document = json.loads(value) if isinstance(value, str) else value
            return cls.model_validate(document)
        except ValueError as exc:  # json.JSONDecodeError and pydantic's ValidationError are both ValueErrors
            detail = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
            raise ConfigurationError(
                f"{PLAN_CONTEXT_KEY}: not a plan from `sluice plan --cdk-context`: {detail}"
            ) from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "value"
    return f"{where}: {error['msg']}"
