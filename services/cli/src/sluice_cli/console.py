"""Where the CLI writes: results to stdout, progress and errors to stderr (so stdout stays pipeable)."""

from __future__ import annotations

from rich.console import Console

__all__ = ["err", "out"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
