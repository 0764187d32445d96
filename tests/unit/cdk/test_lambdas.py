"""What the stack tells Lambda to run exists, on the runtime the assets are built for."""

from __future__ import annotations

import importlib

import pytest
from aws_cdk import aws_logs as logs

from sluice_cdk.config import LAMBDA_PYTHON_VERSION
from sluice_cdk.lambdas import CONSUMER_HANDLER, INGEST_HANDLER, MIGRATIONS_HANDLER, RUNTIME, log_retention
from sluice_shared.errors import ConfigurationError


@pytest.mark.parametrize("handler", [CONSUMER_HANDLER, MIGRATIONS_HANDLER, INGEST_HANDLER])
def test_every_configured_handler_is_a_callable_in_its_package(handler: str) -> None:
    module, _, attribute = handler.rpartition(".")

    assert callable(getattr(importlib.import_module(module), attribute))


def test_runtime_is_the_python_the_assets_are_compiled_for() -> None:
    assert RUNTIME.name == f"python{LAMBDA_PYTHON_VERSION}" == "python3.13"


def test_log_retention_accepts_only_cloudwatch_periods() -> None:
    assert log_retention(14) is logs.RetentionDays.TWO_WEEKS
    with pytest.raises(ConfigurationError, match="log retention 10 days is not one of 1, 3, 5, 7, 14, 30"):
        log_retention(10)
