"""`sluice local --log-level` reaches the local pipeline's own modules, not only the CLI's."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from sluice_local.commands import _configure_logging

if TYPE_CHECKING:
    from collections.abc import Iterator

PACKAGES = ("sluice_cli", "sluice_local")


@pytest.fixture
def restored_loggers() -> Iterator[None]:
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in PACKAGES}
    yield
    for name, (handlers, level) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restored_loggers")
@pytest.mark.parametrize("module", ["sluice_local.pipeline", "sluice_local.poller", "sluice_cli.push"])
def test_the_log_level_and_handler_reach_the_local_pipeline_modules(module: str) -> None:
    _configure_logging("info")

    assert logging.getLogger(module).getEffectiveLevel() == logging.INFO
    package = logging.getLogger(module.partition(".")[0])
    assert len(package.handlers) == 1  # the command's RichHandler on stderr
    assert not package.propagate
