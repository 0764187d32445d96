"""Migration files: Sluice's own (``migrations/NNNN_name.sql`` in this package) and the application's.

Kept apart from the code that applies them (no psycopg here): the consumer's schema gate only needs the
version numbers, and reading a directory listing costs nothing at cold start.

The application's migrations (the tables its sinks write) live in a folder the user names: a package resource
``package.module:folder`` (what ships inside a Lambda asset) or a filesystem path. They are numbered the same
way and recorded in the same table, as version :data:`APP_VERSION_BASE` + their number and name
``app/NNNN_name``, so they never collide with Sluice's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["APP_VERSION_BASE", "Migration", "app_migrations", "available_migrations", "shipped_versions"]

_FILE_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# The application's migration NNNN is recorded as this + NNNN: Sluice's own stay below it.
APP_VERSION_BASE: Final = 1_000_000
APP_PREFIX: Final = "app/"
_RESOURCE: Final = re.compile(r"^[A-Za-z_][\w.]*:[\w./-]+$")


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


def _entries(folder: Traversable | None = None) -> list[tuple[int, str, Traversable]]:
    folder = folder if folder is not None else files("sluice_consumer").joinpath("migrations")
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


def app_migrations(spec: str) -> list[Migration]:
    """The application's migrations in ``spec`` (``package.module:folder`` or a path), in version order.

    Raises:
        ConfigurationError: the package cannot be imported, or the folder does not exist.
    """
    folder = _app_folder(spec)
    return [
        Migration(APP_VERSION_BASE + number, APP_PREFIX + name, entry.read_text("utf-8"))
        for number, name, entry in _entries(folder)
    ]


def _app_folder(spec: str) -> Traversable:
    if _RESOURCE.match(spec) and not Path(spec).exists():
        package, _, folder = spec.partition(":")
        try:
            found = files(package).joinpath(folder)
        except (ImportError, TypeError) as exc:
            raise ConfigurationError(f"application migrations {spec!r}: cannot import {package!r}: {exc}") from exc
    else:
        found = Path(spec)
    if not found.is_dir():
        raise ConfigurationError(f"application migrations {spec!r}: no such folder")
    return found
