"""Sluice consumer Lambda: validated, idempotent bulk writes from SQS batches into PostgreSQL."""

from __future__ import annotations

__all__: list[str] = []
