"""The migration files shipped in the package: ``migrations/NNNN_name.sql``, numbered, plain SQL.

Kept apart from the code that applies them (no psycopg here): the consumer's schema gate only needs the
version numbers, and reading a directory listing costs nothing at cold start.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["Migration", "available_migrations", "shipped_versions"]

_FILE_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _entries() -> list[tuple[int, str, Traversable]]:
    folder = files("sluice_consumer").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name.removesuffix(".sql"), entry))
    return sorted(found, key=lambda item: item[0])


def available_migrations() -> list[Migration]:
    """Every migration shipped in the package, in version order."""
    return [Migration(version, name, entry.read_text("utf-8")) for version, name, entry in _entries()]


def shipped_versions() -> frozenset[int]:
    """The version numbers of the shipped migrations (file names only: nothing is read)."""
    return frozenset(version for version, _, _ in _entries())
