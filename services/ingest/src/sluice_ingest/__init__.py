"""Sluice ingest Lambda: validates events received over HTTP and enqueues them to SQS."""

from __future__ import annotations

__all__: list[str] = []
