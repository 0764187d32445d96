"""``sluice local``: registered from the ``sluice-local`` package when it is installed, else a one-line hint.

The local pipeline (embedded SQS, throwaway PostgreSQL) depends on moto and testcontainers, which an operator's
CLI and the Lambdas never need, so it is a package of its own. Without it, ``sluice local ...`` exits 2 (a
configuration error) and says in one line how to install it, instead of a traceback.
"""

from __future__ import annotations

from typing import Final

import typer

from sluice_shared.errors import ConfigurationError

__all__ = ["LOCAL_PACKAGE", "LocalNotInstalledError", "add_local_commands"]

LOCAL_PACKAGE: Final = "sluice_local"
INSTALL_HINT: Final = (
    "`sluice local` needs the sluice-local package, which is not installed: run `make install` in the repository "
    "(or `uv sync --all-packages`)"
)


class LocalNotInstalledError(ConfigurationError):
    """``sluice local`` was run without the ``sluice-local`` package installed."""

    code = "local_not_installed"


def add_local_commands(app: typer.Typer) -> None:
    """Add ``sluice local`` to ``app``: the real sub-app when ``sluice_local`` imports, else the install hint."""
    try:
        from sluice_local.commands import app as local_app  # noqa: PLC0415 - optional package
    except ModuleNotFoundError as exc:
        if exc.name != LOCAL_PACKAGE:  # installed but broken (a dependency of its own missing): a real error
            raise
        app.command(
            "local",
            help="Run the whole pipeline on this machine (needs the sluice-local package: `make install`).",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        )(_not_installed)
    else:
        app.add_typer(local_app, name="local")


def _not_installed() -> None:
    raise LocalNotInstalledError(INSTALL_HINT)
