"""What the CDK CLI tells the app through the environment (the only environment ``sluice_cdk`` reads)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CdkSettings"]


class CdkSettings(BaseSettings):
    """``CDK_OUTDIR`` is set by the ``cdk`` CLI to the cloud assembly directory it will read."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)

    cdk_outdir: str | None = Field(default=None, validation_alias="CDK_OUTDIR")
