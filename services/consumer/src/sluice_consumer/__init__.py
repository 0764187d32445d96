"""Sluice consumer Lambda: validated, idempotent bulk writes from SQS batches into PostgreSQL.

Entry points: ``sluice_consumer.handler.lambda_handler`` (SQS batches) and ``sluice_consumer.migrate.
lambda_handler`` (deploy-time migrations). Importing this package is cheap: it imports none of them.
"""

from __future__ import annotations

__all__: list[str] = []
