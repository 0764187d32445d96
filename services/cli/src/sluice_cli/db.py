"""``sluice db``: the consumer's PostgreSQL schema (apply migrations, show which are applied)."""

from __future__ import annotations

from typing import Annotated

import typer

from sluice_cli.console import out
from sluice_shared import environment as env
from sluice_shared.roles import WRITER_ROLE

__all__ = ["AppMigrationsOption", "DatabaseUrlOption", "PayloadRegistryOption", "WriterPasswordOption", "app"]

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


AppMigrationsOption = Annotated[
    str | None,
    typer.Option(
        "--app-migrations",
        envvar=env.APP_MIGRATIONS,
        help="Your own migrations (the tables your sinks write), applied after Sluice's: "
        "'package.module:folder' or a directory of NNNN_name.sql files.",
        show_envvar=True,
    ),
]
PayloadRegistryOption = Annotated[
    str | None,
    typer.Option(
        "--payload-registry",
        envvar=env.PAYLOAD_REGISTRY,
        help="'package.module:attribute' of your payload registry; its sinks are granted to and checked.",
        show_envvar=True,
    ),
]


@app.command("migrate")
def migrate(
    database_url: DatabaseUrlOption,
    writer_password: WriterPasswordOption = None,
    app_migrations: AppMigrationsOption = None,
    payload_registry: PayloadRegistryOption = None,
) -> None:
    """Apply every pending migration as the schema owner (Sluice's, then yours), then set up the consumer's role.

    Idempotent and safe to run concurrently. The consumer connects as sluice_writer (INSERT and SELECT on
    events only, plus what your sinks need, granted here), never as the owner given here. With a payload
    registry that declares sinks, they are checked against the migrated schema: exits 2 naming each problem.
    """
    # Imported here: psycopg costs every other `sluice` command ~0.2 s of start-up.
    from sluice_consumer.migrations import apply_migrations_with_version  # noqa: PLC0415
    from sluice_consumer.roles import configure_writer_login  # noqa: PLC0415

    result = apply_migrations_with_version(database_url, app_migrations=app_migrations)
    for name in result.applied:
        out.print(f"applied {name}", markup=False)
    state = f"applied {len(result.applied)} migration(s)" if result.applied else "already up to date"
    out.print(f"{state}; schema version {result.version}", markup=False)
    writer = configure_writer_login(database_url, password=writer_password or None)
    out.print(writer.describe(), markup=False)
    if payload_registry:
        from sluice_cli.sinks import grant_and_check  # noqa: PLC0415 - only with a registry

        grant_and_check(database_url, payload_registry, grant=True)


@app.command("status")
def status(database_url: DatabaseUrlOption, app_migrations: AppMigrationsOption = None) -> None:
    """List applied and pending migrations (Sluice's and yours); changes nothing. Exits 1 when any is pending."""
    from sluice_consumer.migrations import migration_status  # noqa: PLC0415 - see migrate()

    current = migration_status(database_url, app_migrations=app_migrations)
    for name in current.applied:
        out.print(f"applied  {name}", markup=False)
    for name in current.pending:
        out.print(f"pending  {name}", markup=False)
    if current.pending:
        raise typer.Exit(code=1)
