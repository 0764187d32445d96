"""The consumer run in this process: its real Lambda handler, with settings, store and dead-letter sink injected.

``sluice consume``, the local pipeline (``sluice_local``) and tests call the function through :func:`in_process`
rather than configuring :mod:`sluice_consumer.runtime` or touching the handler module's logger themselves (nor does
this module: the log output is found by the service's name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from sluice_consumer import runtime

if TYPE_CHECKING:
    from sluice_consumer.deadline import LambdaContextLike
    from sluice_consumer.logic import DeadLetterSink, EventStore, PartialBatchResponse
    from sluice_consumer.settings import ConsumerSettings

__all__ = ["ConsumerHandler", "in_process"]

ConsumerHandler = Callable[[dict[str, Any], "LambdaContextLike"], "PartialBatchResponse"]


@contextmanager
def in_process(
    settings: ConsumerSettings,
    *,
    store: EventStore | None = None,
    dead_letters: DeadLetterSink | None = None,
    output: TextIO | None = None,
    check_database: bool = False,
) -> Iterator[ConsumerHandler]:
    """Configure the consumer with ``settings`` and yield its Lambda handler; reset it (closing the pool) on exit.

    ``store`` and ``dead_letters`` replace the PostgreSQL store and the SQS dead-letter sink the settings describe.
    ``output`` receives the handler's log lines and metrics instead of stdout. ``check_database`` opens one
    connection first, so an unreachable database is one clear error rather than a batch of failures.

    Raises:
        ConfigurationError: invalid settings (only with ``check_database``; else on the first invocation).
        DatabaseUnavailableError: ``check_database`` and the database cannot be reached.
    """
    from sluice_consumer.handler import lambda_handler  # noqa: PLC0415 - Powertools loads only when used
    from sluice_consumer.telemetry import SERVICE  # noqa: PLC0415
    from sluice_shared.observability import output_to  # noqa: PLC0415

    runtime.configure(settings, store=store, dead_letters=dead_letters)
    try:
        if check_database:
            with runtime.get_database().connection():
                pass
        yield lambda_handler if output is None else output_to(lambda_handler, service=SERVICE, stream=output)
    finally:
        runtime.configure(None)
