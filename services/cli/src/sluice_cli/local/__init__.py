"""The whole pipeline on one machine: an embedded SQS endpoint, PostgreSQL, the ingest and consumer handlers."""

from __future__ import annotations

__all__: list[str] = []
