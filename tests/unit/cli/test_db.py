"""``sluice db`` without a database: usage and configuration errors are one line and exit 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice_cli.app import EXIT_USAGE, main

if TYPE_CHECKING:
    import pytest


def test_migrate_with_an_invalid_url_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "migrate", "--database-url", "postgresql://u@h/d?bogus=1"])

    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert captured.err.strip().splitlines() == ['error: invalid database URL: invalid URI query parameter: "bogus"']
    assert captured.out == ""


def test_migrate_needs_a_database_url(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SLUICE_DATABASE_URL", raising=False)

    code = main(["db", "migrate"])

    assert code == EXIT_USAGE
    assert "--database-url" in capsys.readouterr().err
