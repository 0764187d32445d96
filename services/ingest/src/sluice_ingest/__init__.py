"""Sluice ingest Lambda: validates events received over HTTP and enqueues them to SQS.

Entry point ``sluice_ingest.handler.lambda_handler``; settings in :mod:`sluice_ingest.settings`; cached
collaborators (and ``configure`` for tests and the local pipeline) in :mod:`sluice_ingest.runtime`.
"""

from __future__ import annotations

__all__: list[str] = []
