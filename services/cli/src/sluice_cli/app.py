"""The ``sluice`` Typer app: one sub-app per noun, and one place that turns errors into a clear line.

Commands are thin: they parse options and call plain functions. Any :class:`SluiceError` that escapes a
command becomes one line on stderr and a non-zero exit (2 for bad input or configuration, 1 otherwise);
no traceback is shown for them. Unexpected exceptions also get one line, plus the traceback with
``--debug``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from sluice_cli import consume, contract, db, push, sinks
from sluice_cli.console import err, out
from sluice_cli.dlq import app as dlq_app
from sluice_cli.local import add_local_commands
from sluice_cli.plan.commands import plan as plan_command
from sluice_shared.errors import PermanentError, SluiceError

__all__ = ["DISTRIBUTION", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_USAGE", "app", "cli_version", "main"]

EXIT_FAILED = 1  # something was attempted and failed (unreachable endpoint, messages not sent, ...)
EXIT_USAGE = 2  # bad input or configuration: fix the command line, the file or the settings
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
DISTRIBUTION = "sluice-cli"  # the installed package whose metadata carries the version

app = typer.Typer(
    name="sluice",
    help=(
        "Sluice: SQS -> Lambda -> PostgreSQL ingestion. Push events, consume, migrate, work the DLQ, run locally, "
        "plan a deployment."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(contract.app, name="contract")
app.add_typer(dlq_app, name="dlq")
app.add_typer(db.app, name="db")
app.command("consume")(consume.consume)
app.command("push")(push.push)
app.command("plan")(plan_command)
add_local_commands(app)
app.add_typer(sinks.app, name="sinks")

_state = {"debug": False}


def cli_version() -> str:
    """The installed ``sluice-cli`` version, from its package metadata (``unknown`` when run from a bare tree)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def _print_version(requested: bool) -> None:
    if requested:
        out.print(f"sluice {cli_version()}", markup=False)
        raise typer.Exit


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, expose_value=False, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    _state["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (the console script passes it to ``sys.exit``)."""
    try:
        result = app(args=argv, prog_name="sluice", standalone_mode=False)
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except SluiceError as exc:
        err.print(f"error: {exc}", markup=False)
        # Permanent: the input, the command line or the configuration must change; transient: try again.
        return EXIT_USAGE if isinstance(exc, PermanentError) else EXIT_FAILED
    except typer.Abort:
        err.print("aborted")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # typer vendors click (>= 0.26): its usage errors derive from this
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {exc.format_message()}", markup=False)
        return exc.exit_code
    except Exception as exc:  # the last line of defence: one line, never a bare traceback
        if _state["debug"]:
            raise
        err.print(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", markup=False)
        return EXIT_FAILED
    return result if isinstance(result, int) else 0
