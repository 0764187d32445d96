"""The ``sluice`` command itself: its version, and help that renders flags as flags on every command."""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest
import typer

from sluice_cli.app import app, main

if TYPE_CHECKING:
    from collections.abc import Iterator

    from typer._click.core import Command  # typer vendors click (>= 0.26)


def _command_paths(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


COMMANDS = list(_command_paths(typer.main.get_command(app)))


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Help wraps to the terminal: a wide one keeps each option and its help on one line to match.
    monkeypatch.setenv("COLUMNS", "200")


def _help(capsys: pytest.CaptureFixture[str], *path: str) -> str:
    assert main([*path, "--help"]) == 0
    return capsys.readouterr().out


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0

    assert capsys.readouterr().out == f"sluice {version('sluice-cli')}\n"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(("sluice", *path)))
def test_help_shows_no_flag_as_taking_a_value(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, *path)

    assert "<bool>" not in text
    assert re.search(r"--help\s+Show this message and exit\.", text)


def test_every_command_is_covered_by_the_help_test() -> None:
    assert {" ".join(path) for path in COMMANDS} >= {"", "push", "dlq", "dlq replay", "local demo", "db migrate"}


def test_push_help_shows_flags_bare_and_one_optional_file(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "push")

    assert "Usage: sluice push [OPTIONS] [FILE|-]" in text
    assert re.search(r"--dry-run\s+Validate only; send nothing\.", text)
    assert re.search(r"--skip-validation\s+Send events exactly as they are", text)
    assert re.search(r"--concurrency\s+<int range>", text)
    assert "SLUICE_PUSH_CONCURRENCY" in text


def test_root_help_lists_version_and_debug_as_flags(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)

    assert re.search(r"--version\s+Print the version and exit\.", text)
    assert re.search(r"--debug\s+Show tracebacks for unexpected errors\.", text)
