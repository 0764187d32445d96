"""Sluice ingest Lambda: validates events received over HTTP and enqueues them to SQS.

Entry point ``sluice_ingest.handler.lambda_handler``; settings in :mod:`sluice_ingest.settings`; cached
collaborators in :mod:`sluice_ingest.runtime`; :func:`sluice_ingest.in_process.in_process` runs the handler
in the caller's process with its settings and sender injected (the local pipeline, tests).
"""

from __future__ import annotations

__all__: list[str] = []
