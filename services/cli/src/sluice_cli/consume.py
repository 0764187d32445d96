"""``sluice consume --event FILE``: feed a saved SQS event (shaped like Lambda's) to the real consumer handler.

The handler runs in-process with a Lambda-like context (a remaining-time clock), against the database and
DLQ given here or in the environment, and its response (``{"batchItemFailures": [...]}``) is printed on
stdout. The handler's own log line and metrics go to stderr. Exits 1 when any message was reported failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sluice_cli.console import err, out
from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from sluice_consumer.settings import ConsumerSettings

# The consumer (psycopg, its pool, its settings) is imported by the command that runs it: importing it here
# would cost every `sluice` command ~0.6 s of start-up.

__all__ = ["InvalidEventFileError", "consume", "load_event_file", "run_handler"]


class InvalidEventFileError(ConfigurationError):
    """The event file is not JSON, or not a JSON object."""

    code = "invalid_event_file"


def load_event_file(path: Path) -> dict[str, Any]:
    """Read a saved Lambda event.

    Raises:
        InvalidEventFileError: the file cannot be read, is not JSON, or is not a JSON object.
    """
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidEventFileError(f"cannot read {path}: {exc}") from exc
    except ValueError as exc:
        raise InvalidEventFileError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidEventFileError(f"{path} must hold a JSON object shaped like an SQS event ({{'Records': [...]}})")
    return event


def run_handler(event: dict[str, Any], settings: ConsumerSettings, *, timeout_s: float) -> dict[str, Any]:
    """Run the real consumer handler on ``event`` with ``settings``; return its response.

    Checks the database connection first, so an unreachable database is one clear error, not a batch of
    failures. The runtime is reset afterwards.

    Raises:
        ConfigurationError: invalid settings or an event that is not an SQS event.
        DatabaseUnavailableError: the database cannot be reached.
    """
    from sluice_cli.context import LocalContext  # noqa: PLC0415 - imports Powertools: see the module note
    from sluice_consumer.in_process import in_process  # noqa: PLC0415 - see the module note

    # The handler's log line and metrics go to stderr: stdout is for its response.
    with in_process(settings, output=sys.stderr, check_database=bool(event.get("Records"))) as handler:
        response: dict[str, Any] = dict(handler(event, LocalContext(timeout_s=timeout_s)))
    return response


def consume(
    event_file: Annotated[
        Path,
        typer.Option("--event", help="A saved SQS event: {'Records': [...]} as Lambda delivers it.", dir_okay=False),
    ],
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar=env.DATABASE_URL,
            show_envvar=True,
            help="libpq URL; without it the consumer's other database settings apply (secret, IAM).",
        ),
    ] = None,
    dlq_url: Annotated[
        str | None,
        typer.Option(
            "--dlq-url",
            envvar=env.DLQ_URL,
            show_envvar=True,
            help="Dead-letter queue for permanent failures; without it they are reported as failures.",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds the simulated Lambda invocation may take.")
    ] = 60.0,
) -> None:
    """Feed a saved SQS event to the real consumer handler and print its response."""
    event = load_event_file(event_file)
    overrides: dict[str, Any] = {}
    if database_url is not None:
        overrides["database_url"] = database_url
    if dlq_url is not None:
        overrides["dlq_url"] = dlq_url
    from sluice_consumer.runtime import load_settings  # noqa: PLC0415 - see the module note

    settings = load_settings(**overrides)
    response = run_handler(event, settings, timeout_s=timeout)
    out.print(json.dumps(response, indent=2), markup=False)
    failed = len(response.get("batchItemFailures", []))
    if failed:
        err.print(f"{failed} of {len(event.get('Records', []))} message(s) reported for retry", markup=False)
        raise typer.Exit(code=1)
