"""Security fixtures: the reliability suite's loopback PostgreSQL proxy (its password check plays credentials)."""

from __future__ import annotations

from tests.integration.reliability.conftest import pg_proxy

__all__ = ["pg_proxy"]
