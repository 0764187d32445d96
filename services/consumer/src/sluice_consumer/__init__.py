"""Sluice consumer Lambda: validated, idempotent bulk writes from SQS batches into PostgreSQL.

Entry points: ``sluice_consumer.handler.lambda_handler`` (SQS batches) and ``sluice_consumer.migrate.
lambda_handler`` (deploy-time migrations); ``sluice_consumer.in_process.in_process`` runs the SQS handler outside
Lambda, in the caller's process (``sluice consume``, the local pipeline, tests). Importing this package is cheap:
it imports none of them.
"""

from __future__ import annotations

__all__: list[str] = []
