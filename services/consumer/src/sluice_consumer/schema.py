"""The schema gate: the consumer writes only to a database that has every migration its code ships.

A deploy can start new consumer code before its migrations ran (an update's order, a failed migrations run,
a rollback of the database but not the code). Writing then would fail row by row on a missing column, or
worse, succeed without what the new schema guarantees. The gate reads the applied versions once per
execution environment, before the first write; while any shipped version is missing it raises a transient
:class:`~sluice_shared.errors.SchemaBehindError`, so the batch is retried and nothing is dead-lettered. The
schema being *ahead* of the code (new migrations, old code still draining) is fine: migrations only add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import errors as pg_errors

from sluice_consumer.migration_files import shipped_versions
from sluice_consumer.repository import SELECT_APPLIED_VERSIONS
from sluice_shared.errors import SchemaBehindError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import psycopg

__all__ = ["SchemaGate"]


class SchemaGate:
    """Checks once per execution environment that the database holds the required migration versions."""

    def __init__(
        self, required: Iterable[int] | None = None, *, on_behind: Callable[[SchemaBehindError], None] | None = None
    ) -> None:
        """``required`` defaults to the shipped migrations; ``on_behind`` is told the first time it is behind."""
        self.required = frozenset(shipped_versions() if required is None else required)
        self._on_behind = on_behind
        self._passed = not self.required
        self._reported = False

    @property
    def passed(self) -> bool:
        """True once the database was found up to date (it is not checked again)."""
        return self._passed

    def ensure(self, conn: psycopg.Connection[Any]) -> None:
        """Return when the schema is up to date; check the database only until it first is.

        Raises:
            SchemaBehindError: a required migration is not applied (the first one is reported to ``on_behind``).
            psycopg.Error: the query failed for another reason (callers classify it).
        """
        if self._passed:
            return
        try:
            applied = {version for (version,) in conn.execute(SELECT_APPLIED_VERSIONS, (sorted(self.required),))}
        except pg_errors.UndefinedTable:
            applied = set()  # no migration was ever applied here
        missing = tuple(sorted(self.required - applied))
        if not missing:
            self._passed = True
            return
        current = max(applied, default=0)
        error = SchemaBehindError(
            f"the database schema is at version {current} but this code needs version {max(self.required)} "
            f"(missing migrations {', '.join(map(str, missing))}): run the migrations (`sluice db migrate`); "
            "the batch is retried meanwhile",
            missing=missing,
        )
        if not self._reported and self._on_behind is not None:
            self._reported = True
            self._on_behind(error)
        raise error
