"""Helpers for tests of the local pipeline (``sluice_local``) that its product code has no use for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice_shared.sqs import SqsQueue

if TYPE_CHECKING:
    from sluice_local.batch_stats import BatchReport
    from sluice_local.event_source import EventSource
    from sluice_local.pipeline import LocalPipeline
    from sluice_shared.sqs import QueueDepth

__all__ = ["dlq_depth", "poll_once"]


def poll_once(source: EventSource) -> BatchReport | None:
    """Gather one batch and handle it on the calling thread; None when nothing arrived within one long poll.

    Drives the event source without its poller threads. Records carried over (payload limit) wait for the next
    call; ``source.stop()`` releases them.
    """
    return source.poller("direct").poll()


def dlq_depth(pipeline: LocalPipeline) -> QueueDepth:
    """The approximate counts of the running pipeline's dead-letter queue."""
    return SqsQueue(pipeline.dlq_url, client=pipeline.sqs).depth()
