"""The ingest function run in this process: its real Lambda handler, with settings and SQS sender injected.

The local pipeline (``sluice_local``) and tests call the function through :func:`in_process` rather than
configuring :mod:`sluice_ingest.runtime` or touching the handler module's logger themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from sluice_ingest import runtime

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from sluice_ingest.settings import IngestSettings
    from sluice_shared.publisher import MessageSender

__all__ = ["IngestHandler", "in_process"]

IngestHandler = Callable[[Any, "LambdaContext"], Any]


@contextmanager
def in_process(
    settings: IngestSettings, *, sender: MessageSender | None = None, output: TextIO | None = None
) -> Iterator[IngestHandler]:
    """Configure the ingest function with ``settings`` and yield its Lambda handler; reset it on exit.

    ``sender`` replaces the SQS sender built from the settings' queue URL. ``output`` receives the handler's log
    lines and metrics instead of stdout.
    """
    from sluice_ingest.handler import SERVICE, lambda_handler  # noqa: PLC0415 - Powertools loads only when used
    from sluice_shared.observability import output_to  # noqa: PLC0415

    runtime.configure(settings, sender=sender)
    try:
        yield lambda_handler if output is None else output_to(lambda_handler, service=SERVICE, stream=output)
    finally:
        runtime.configure()
