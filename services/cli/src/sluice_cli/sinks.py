"""``sluice sinks``: check your table sinks against the live database before the first message."""

from __future__ import annotations

from typing import Annotated

import typer

from sluice_cli.console import err, out
from sluice_cli.db import DatabaseUrlOption
from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError
from sluice_shared.registry import load_registry
from sluice_shared.roles import WRITER_ROLE

__all__ = ["app", "grant_and_check"]

app = typer.Typer(help="Your table sinks: check them against the database.", no_args_is_help=True)

EXIT_PROBLEMS = 2  # the schema or the declarations must change: like any bad configuration


@app.command("check")
def check(
    database_url: DatabaseUrlOption,
    payload_registry: Annotated[
        str,
        typer.Option(
            "--payload-registry",
            envvar=env.PAYLOAD_REGISTRY,
            help="'package.module:attribute' of the payload registry that declares the sinks.",
            show_envvar=True,
        ),
    ],
    role: Annotated[str, typer.Option("--role", help="The role the consumer writes as.")] = WRITER_ROLE,
) -> None:
    """Check every sink: table, columns, types, unique key, version column, NOT NULL columns, privileges.

    One line per problem; exits 2 when there is any. Changes nothing.
    """
    grant_and_check(database_url, payload_registry, grant=False, role=role)


def grant_and_check(database_url: str, payload_registry: str, *, grant: bool, role: str = WRITER_ROLE) -> None:
    """Load the registry; optionally grant ``role`` what its sinks need; check them; exit 2 on any problem.

    Raises:
        typer.Exit: with code 2 when a sink has a problem.
        ConfigurationError: the registry cannot be loaded.
    """
    import psycopg  # noqa: PLC0415 - psycopg costs every other `sluice` command ~0.2 s of start-up

    from sluice_consumer.migrations import connect  # noqa: PLC0415
    from sluice_consumer.sink_check import SinkProblem, check_sinks, grant_sink_privileges  # noqa: PLC0415

    registry = load_registry(payload_registry)
    if not registry.sinks:
        out.print(f"{payload_registry} declares no sinks", markup=False)
        return
    with connect(database_url) as conn:
        conn.autocommit = True
        try:
            problems: list[SinkProblem] = []
            if grant:
                granted, problems = grant_sink_privileges(conn, registry, role=role)
                for line in granted:
                    out.print(line, markup=False)
            problems += check_sinks(conn, registry, role=role)
        except psycopg.Error as exc:
            raise ConfigurationError(f"checking the sinks failed: {exc}") from exc
    for problem in dict.fromkeys(str(problem) for problem in problems):
        err.print(f"sink problem: {problem}", markup=False)
    if problems:
        raise typer.Exit(EXIT_PROBLEMS)
    out.print(f"{len(registry.sinks)} sink(s) checked: no problem", markup=False)
