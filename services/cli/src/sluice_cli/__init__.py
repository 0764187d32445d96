"""The ``sluice`` command line: push events, consume saved events, migrate, work the DLQ, run locally."""

from __future__ import annotations

__all__ = ["app", "main"]

from sluice_cli.app import app, main
