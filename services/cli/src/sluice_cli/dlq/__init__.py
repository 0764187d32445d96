"""``sluice dlq``: inspect, replay, redrive and purge the dead-letter queue without losing a message.

The Typer commands (:mod:`sluice_cli.dlq.commands`) are thin; the work is done by plain functions over small
ports (:mod:`sluice_cli.dlq.ports`) that the SQS adapter (:mod:`sluice_cli.dlq.queue`) implements:
:func:`~sluice_cli.dlq.inspection.collect_stats`, :func:`~sluice_cli.dlq.inspection.peek`,
:func:`~sluice_cli.dlq.replay.replay`, :func:`~sluice_cli.dlq.purge.purge_older_than` and the redrive
functions in :mod:`sluice_cli.dlq.redrive`.
"""

from __future__ import annotations

from sluice_cli.dlq.commands import app

__all__ = ["app"]
