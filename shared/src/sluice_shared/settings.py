"""Typed settings common to every unit. Each unit subclasses :class:`ContractSettings` and reads it once.

No code outside a ``settings`` module reads the environment. An explicit argument always beats the
environment: units build their collaborators from a settings object that tests can construct directly.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sluice_shared import environment as env
from sluice_shared.contract import MAX_BODY_BYTES
from sluice_shared.limits import SQS_MAX_MESSAGE_BYTES
from sluice_shared.registry import PayloadRegistry, UnknownEventTypePolicy, load_registry

__all__ = ["SETTINGS_CONFIG", "AwsSettings", "ContractSettings"]

# Frozen, case-sensitive environment names (the constants in ``environment``), unknown variables ignored.
SETTINGS_CONFIG = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True, populate_by_name=True)


class AwsSettings(BaseSettings):
    """The standard AWS variables Sluice resolves itself; botocore reads every other one (credentials, profile).

    Read each time a client is built, as botocore reads its own: the local pipeline sets them while it runs.
    Blank values count as unset, as botocore counts them.
    """

    model_config = SETTINGS_CONFIG

    aws_region: str | None = Field(default=None, validation_alias=env.AWS_REGION)
    aws_default_region: str | None = Field(default=None, validation_alias=env.AWS_DEFAULT_REGION)
    endpoint_url_sqs: str | None = Field(default=None, validation_alias=env.AWS_ENDPOINT_URL_SQS)
    endpoint_url: str | None = Field(default=None, validation_alias=env.AWS_ENDPOINT_URL)
    # A string compared as botocore compares it ("true" in any case), so no value is ever an error here.
    ignore_configured_endpoint_urls: str | None = Field(
        default=None, validation_alias=env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
    )

    @field_validator("aws_region", "aws_default_region", "endpoint_url_sqs", "endpoint_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def region(self) -> str | None:
        """AWS_REGION, else AWS_DEFAULT_REGION (None leaves the profile's region to botocore)."""
        return self.aws_region or self.aws_default_region

    @property
    def sqs_endpoint_configured(self) -> bool:
        """Whether botocore will send SQS calls to an endpoint set in the environment (``AWS_ENDPOINT_URL*``)."""
        ignored = (self.ignore_configured_endpoint_urls or "").strip().lower() == "true"
        return bool(self.endpoint_url_sqs or self.endpoint_url) and not ignored


class ContractSettings(BaseSettings):
    """How messages are validated: the payload registry, the unknown-type policy and the size limit."""

    model_config = SETTINGS_CONFIG

    payload_registry: str | None = Field(
        default=None,
        validation_alias=env.PAYLOAD_REGISTRY,
        description="'package.module:attribute' of a PayloadRegistry; unset means no payload models at all "
        "(every event type follows the unknown-type policy).",
    )
    unknown_event_types: UnknownEventTypePolicy | None = Field(
        default=None,
        validation_alias=env.UNKNOWN_EVENT_TYPES,
        description="Override the registry's policy for unregistered event types: accept or reject.",
    )
    max_body_bytes: Annotated[int, Field(gt=0, le=SQS_MAX_MESSAGE_BYTES)] = Field(
        default=MAX_BODY_BYTES, validation_alias=env.MAX_BODY_BYTES
    )
    # NoDecode: the variable is a plain comma-separated list, not JSON.
    redact_fields: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias=env.REDACT_FIELDS,
        description="Payload field names whose values are masked wherever a payload could be logged.",
    )
    tracing: bool = Field(
        default=False,
        validation_alias=env.TRACING,
        description="Enable Powertools Tracer (X-Ray). Off costs nothing at cold start: it is never imported.",
    )

    @field_validator("redact_fields", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def build_registry(self) -> PayloadRegistry:
        """The configured registry with the configured policy applied; an empty one when none is configured.

        Unset means no payload models: a deployment validates only the envelope until its owner registers
        models, so a payload shaped differently from Sluice's sample catalog is never refused for it. Every
        event type then follows the unknown-type policy (``accept`` unless configured).

        Raises:
            ConfigurationError: ``payload_registry`` cannot be imported.
        """
        if self.payload_registry:
            return load_registry(self.payload_registry, policy=self.unknown_event_types)
        return PayloadRegistry(unknown_event_types=self.unknown_event_types or UnknownEventTypePolicy.ACCEPT)
