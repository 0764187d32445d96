"""``sluice dlq redrive``: SQS's native bulk move (``StartMessageMoveTask``), with its status and cancel.

SQS moves the messages itself, at up to ``MaxNumberOfMessagesPerSecond``, keeping every attribute (the
``sluice.dlq.*`` reason included: the consumer replaces it if the message fails again). Without a
destination SQS returns each message to the queue it was *moved* from, which only messages moved by the
redrive policy have; so when the DLQ serves exactly one source queue, it is named explicitly. Endpoints that
lack the API (the local moto server) get a clear pointer to ``sluice dlq replay``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from sluice_cli.dlq.replay import NoTargetError

if TYPE_CHECKING:
    from sluice_cli.dlq.queue import MoveTask, QueueInfo

__all__ = [
    "MAX_REDRIVE_RATE",
    "MoveTasks",
    "RedriveStarted",
    "cancel_redrive",
    "redrive_status",
    "start_redrive",
]

MAX_REDRIVE_RATE: Final = 500  # StartMessageMoveTask MaxNumberOfMessagesPerSecond: at most 500


class MoveTasks(Protocol):
    """SQS's move-task API and queue look-ups (implemented by :class:`sluice_cli.dlq.queue.SqsQueues`)."""

    def find(self, queue: str) -> QueueInfo:
        """Find a queue by URL, ARN or name."""
        ...

    def dead_letter_sources(self, dlq: QueueInfo) -> list[str]:
        """URLs of the queues whose redrive policy targets ``dlq``."""
        ...

    def start_move_task(self, *, source_arn: str, destination_arn: str | None, rate: int | None) -> str:
        """Start a move task; return its handle."""
        ...

    def move_tasks(self, *, source_arn: str) -> list[MoveTask]:
        """The DLQ's most recent move tasks, newest first."""
        ...

    def cancel_move_task(self, handle: str) -> int:
        """Cancel a task; return how many messages it had moved."""
        ...


@dataclass(frozen=True, slots=True)
class RedriveStarted:
    """A move task SQS accepted, and where it sends the messages (``None``: each to its original source)."""

    handle: str
    destination: QueueInfo | None


def start_redrive(tasks: MoveTasks, dlq: QueueInfo, *, to: str | None, rate: int | None) -> RedriveStarted:
    """Start moving every message of ``dlq`` to ``to``, else to its only source queue, else to their origins.

    Raises:
        RedriveUnsupportedError: the endpoint has no move-task API.
        QueueNotFoundError: ``to`` does not exist.
        NoTargetError: the destination is the DLQ itself (SQS would move the messages round in a loop).
    """
    destination: QueueInfo | None = None
    if to is not None:
        destination = tasks.find(to)
    else:
        sources = tasks.dead_letter_sources(dlq)
        if len(sources) == 1:
            destination = tasks.find(sources[0])
    if destination is not None and (destination.arn == dlq.arn or destination.url == dlq.url):
        raise NoTargetError(f"refusing to redrive {dlq.name} into itself; pass --to QUEUE")
    handle = tasks.start_move_task(
        source_arn=dlq.arn, destination_arn=destination.arn if destination else None, rate=rate
    )
    return RedriveStarted(handle, destination)


def redrive_status(tasks: MoveTasks, dlq: QueueInfo) -> list[MoveTask]:
    """The DLQ's recent move tasks, newest first."""
    return tasks.move_tasks(source_arn=dlq.arn)


def cancel_redrive(tasks: MoveTasks, dlq: QueueInfo) -> tuple[MoveTask, int] | None:
    """Cancel the DLQ's running move task; return it and how many messages it had moved (``None``: none ran)."""
    running = [task for task in tasks.move_tasks(source_arn=dlq.arn) if task.status == "RUNNING" and task.handle]
    if not running:
        return None
    task = running[0]
    return task, tasks.cancel_move_task(str(task.handle))
