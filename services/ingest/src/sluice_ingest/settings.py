"""Typed settings of the ingest function, read once from the environment (names in ``sluice_shared.environment``)."""

from __future__ import annotations

import os
from typing import Annotated, Final

from pydantic import Field

from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError
from sluice_shared.publisher import DEFAULT_FIFO_GROUP_FIELD
from sluice_shared.settings import SETTINGS_CONFIG, ContractSettings

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "MAX_EVENTS_LIMIT",
    "IngestSettings",
    "current_trace_header",
]

# 500 events of a few KiB queue in ~50 SendMessageBatch calls, well inside API Gateway's 30 s timeout.
DEFAULT_MAX_EVENTS: Final = 500
MAX_EVENTS_LIMIT: Final = 10_000
# Lambda sets this per invocation when tracing is active (the X-Ray trace header of the current request).
_TRACE_HEADER_VARIABLE: Final = "_X_AMZN_TRACE_ID"


class IngestSettings(ContractSettings):
    """Where events go and how requests are limited."""

    model_config = SETTINGS_CONFIG

    queue_url: str | None = Field(default=None, validation_alias=env.QUEUE_URL, description="The SQS queue URL.")
    max_events: Annotated[int, Field(ge=1, le=MAX_EVENTS_LIMIT)] = Field(
        default=DEFAULT_MAX_EVENTS,
        validation_alias=env.INGEST_MAX_EVENTS,
        description="Most events one request may carry; more is answered 413.",
    )
    fifo_group_field: str = Field(
        default=DEFAULT_FIFO_GROUP_FIELD,
        validation_alias=env.FIFO_GROUP_FIELD,
        description="FIFO queues: the envelope field (or payload.<path>) that gives the message group id.",
    )
    correlation_id_header: str = Field(
        default="x-correlation-id",
        validation_alias=env.CORRELATION_ID_HEADER,
        description="Request header whose value becomes the correlation id (else the API request id).",
    )

    def require_queue_url(self) -> str:
        """The queue URL.

        Raises:
            ConfigurationError: it is not set.
        """
        if not self.queue_url:
            raise ConfigurationError(f"the ingest function has no queue: set {env.QUEUE_URL}")
        return self.queue_url


def current_trace_header() -> str | None:
    """The X-Ray trace header Lambda set for the current invocation, if any."""
    return os.environ.get(_TRACE_HEADER_VARIABLE) or None
