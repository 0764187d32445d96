"""``sluice db``: the consumer's PostgreSQL schema (apply migrations, show which are applied)."""

from __future__ import annotations

from typing import Annotated

import typer

from sluice_cli.console import out
from sluice_shared import environment as env
from sluice_shared.roles import WRITER_ROLE

__all__ = ["DatabaseUrlOption", "WriterPasswordOption", "app"]

app = typer.Typer(help="The database: apply Sluice's migrations, show which are applied.", no_args_is_help=True)

DatabaseUrlOption = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar=env.DATABASE_URL,
        help="libpq URL or conninfo, e.g. postgresql://user@host:5432/db.",
        show_envvar=True,
    ),
]


WriterPasswordOption = Annotated[
    str | None,
    typer.Option(
        "--writer-password",
        envvar=env.DB_WRITER_PASSWORD,
        help=(
            f"Give the consumer's role, {WRITER_ROLE}, this password (and take it out of rds_iam). "
            "Without it, the role keeps IAM database authentication where RDS offers it."
        ),
        show_envvar=True,
    ),
]


@app.command("migrate")
def migrate(database_url: DatabaseUrlOption, writer_password: WriterPasswordOption = None) -> None:
    """Apply every pending migration as the schema owner, then set how the consumer's role logs in.

    Idempotent and safe to run concurrently. The consumer connects as sluice_writer (INSERT and SELECT on
    events only), never as the owner given here.
    """
    # Imported here: psycopg costs every other `sluice` command ~0.2 s of start-up.
    from sluice_consumer.migrations import apply_migrations_with_version  # noqa: PLC0415
    from sluice_consumer.roles import configure_writer_login  # noqa: PLC0415

    result = apply_migrations_with_version(database_url)
    for name in result.applied:
        out.print(f"applied {name}", markup=False)
    state = f"applied {len(result.applied)} migration(s)" if result.applied else "already up to date"
    out.print(f"{state}; schema version {result.version}", markup=False)
    writer = configure_writer_login(database_url, password=writer_password or None)
    out.print(writer.describe(), markup=False)


@app.command("status")
def status(database_url: DatabaseUrlOption) -> None:
    """List applied and pending migrations; changes nothing. Exits 1 when any is pending."""
    from sluice_consumer.migrations import migration_status  # noqa: PLC0415 - see migrate()

    current = migration_status(database_url)
    for name in current.applied:
        out.print(f"applied  {name}", markup=False)
    for name in current.pending:
        out.print(f"pending  {name}", markup=False)
    if current.pending:
        raise typer.Exit(code=1)
