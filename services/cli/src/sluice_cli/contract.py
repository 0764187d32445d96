"""``sluice contract``: the message contract for people and for producers in other languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sluice_cli.console import out
from sluice_shared.contract import parse_message
from sluice_shared.registry import contract_json_schema
from sluice_shared.settings import ContractSettings

__all__ = ["app"]

app = typer.Typer(
    help="The event contract: export it as JSON Schema, validate events against it.", no_args_is_help=True
)


@app.command("schema")
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the envelope and every registered payload model as one JSON Schema (draft 2020-12)."""
    document = json.dumps(contract_json_schema(ContractSettings().build_registry()), indent=2, sort_keys=True)
    if output is None:
        out.print(document, markup=False)
    else:
        output.write_text(document + "\n", encoding="utf-8")


@app.command("check")
def check(
    body: Annotated[str, typer.Argument(help="One event as JSON text.")],
) -> None:
    """Validate one event body exactly as the consumer would; exits 2 with the reason when it is invalid."""
    settings = ContractSettings()
    envelope = parse_message(body, registry=settings.build_registry(), max_bytes=settings.max_body_bytes)
    out.print(f"valid: {envelope.event_type} {envelope.event_id}", markup=False)
