"""Cached collaborators of the ingest function: settings and the publisher, built on first use.

Nothing is built at import time: a misconfigured function fails with a clear error on its first invocation,
and tests (or the local pipeline) inject settings, and a sender, with :func:`configure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sluice_ingest.settings import IngestSettings
from sluice_shared.aws import sqs_client
from sluice_shared.errors import ConfigurationError
from sluice_shared.publisher import EventPublisher
from sluice_shared.sqs import BatchSender

if TYPE_CHECKING:
    from sluice_shared.publisher import MessageSender

__all__ = ["configure", "get_publisher", "get_settings"]


@dataclass
class _Runtime:
    settings: IngestSettings | None = None
    sender: MessageSender | None = None
    publisher: EventPublisher | None = None


_runtime = _Runtime()


def configure(settings: IngestSettings | None = None, *, sender: MessageSender | None = None) -> None:
    """Replace the cached settings (``None``: read the environment again) and drop the cached publisher.

    ``sender`` replaces the SQS sender (tests pass a fake); ``None`` builds a ``BatchSender`` on first use.
    """
    global _runtime  # noqa: PLW0603 - one execution environment, one runtime
    _runtime = _Runtime(settings=settings, sender=sender)


def get_settings() -> IngestSettings:
    """The settings, read from the environment on first use unless :func:`configure` gave some.

    Raises:
        ConfigurationError: a variable has an invalid value (the message names it).
    """
    if _runtime.settings is None:
        try:
            _runtime.settings = IngestSettings()
        except ValidationError as exc:
            raise ConfigurationError(f"invalid ingest settings: {exc}") from exc
    return _runtime.settings


def get_publisher() -> EventPublisher:
    """The publisher for the configured queue, built on first use.

    Raises:
        ConfigurationError: no queue URL, no AWS region, or a payload registry that cannot be imported.
    """
    if _runtime.publisher is None:
        settings = get_settings()
        sender = _runtime.sender
        if sender is None:
            # The client is built here, not on the first send, so a missing region is a clear configuration error.
            queue_url = settings.require_queue_url()
            sender = BatchSender(queue_url, client=sqs_client(queue=queue_url))
        _runtime.publisher = EventPublisher(
            sender,
            registry=settings.build_registry(),
            max_body_bytes=settings.max_body_bytes,
            fifo_group_field=settings.fifo_group_field,
        )
    return _runtime.publisher
