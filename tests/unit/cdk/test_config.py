"""Stage configuration: the connection budget formula and the rules checked at synth time."""

from __future__ import annotations

import dataclasses

import pytest

from sluice_cdk.config import (
    STAGES,
    ConnectionBudget,
    DatabaseConfig,
    NetworkMode,
    StageConfig,
    default_max_connections,
    stage_config,
)
from sluice_shared.errors import ConfigurationError
from sluice_shared.topology import QueueTopology


def _budget(**overrides: int) -> ConnectionBudget:
    values = {
        "max_connections": 80,
        "max_connections_percent": 90,
        "reserved_connections": 5,
        "connections_per_environment": 1,
        "concurrency_cap": 1000,
    }
    return ConnectionBudget(**(values | overrides))


def test_budget_is_max_connections_times_percent_less_the_reserve() -> None:
    budget = _budget()

    assert budget.proxy_connections == 72  # 80 x 90 %
    assert budget.available == 67  # less 5 for migrations and operators
    assert budget.max_concurrency == 67  # one connection per environment
    assert budget.alarm_threshold == 58  # ceil(72 x 0.8)


def test_concurrency_is_capped_by_the_stage_and_by_aws() -> None:
    assert _budget(concurrency_cap=10).max_concurrency == 10
    assert _budget(max_connections=5000, max_connections_percent=100).max_concurrency == 1000


def test_two_connections_per_environment_halve_the_concurrency() -> None:
    assert _budget(connections_per_environment=2).max_concurrency == 33


def test_budget_too_small_for_two_environments_is_refused_with_the_numbers() -> None:
    budget = _budget(max_connections=10, max_connections_percent=50, reserved_connections=4)

    with pytest.raises(ConfigurationError, match=r"may open 5 connections \(10 x 50 %\), 4 are reserved.*at least 2"):
        budget.validate()


def test_percent_outside_1_to_100_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"max_connections_percent 0 must be 1\.\.100"):
        _budget(max_connections_percent=0).validate()


def test_default_max_connections_follows_the_rds_formula() -> None:
    assert default_max_connections("t4g.micro") == 112  # 1 GiB / 9531392
    assert default_max_connections("m7g.large") == 901
    with pytest.raises(ConfigurationError, match=r"unknown instance type 'x1.huge'"):
        default_max_connections("x1.huge")


def test_shipped_stages_validate_and_derive_their_concurrency() -> None:
    dev, prod = stage_config("dev"), stage_config("prod")

    assert (dev.budget.proxy_connections, dev.budget.max_concurrency) == (72, 10)
    assert (prod.budget.proxy_connections, prod.budget.max_concurrency) == (720, 100)
    assert (prod.database.multi_az, prod.database.deletion_protection, prod.database.rotation_days) == (True, True, 30)
    assert (dev.database.multi_az, dev.database.deletion_protection, dev.database.rotation_days) == (False, False, None)
    assert (dev.retain_data, prod.retain_data) == (False, True)
    assert dev.network is NetworkMode.ENDPOINTS


def test_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="unknown stage 'qa': expected one of dev, prod"):
        stage_config("qa")


def test_pinned_max_connections_above_the_class_formula_is_refused() -> None:
    database = dataclasses.replace(STAGES["dev"].database, max_connections=200)

    with pytest.raises(ConfigurationError, match=r"max_connections 200 must be 1..112 for t4g.micro"):
        database.validate()


def test_stage_with_short_visibility_timeout_fails_validation() -> None:
    stage = dataclasses.replace(STAGES["dev"], topology=QueueTopology(visibility_timeout_seconds=60))

    with pytest.raises(ConfigurationError, match="visibility timeout 60 s is below"):
        stage.validate()


def test_queue_retaining_longer_than_its_dlq_is_refused() -> None:
    stage = dataclasses.replace(
        STAGES["dev"], topology=QueueTopology(dlq_retention_seconds=3600), queue_retention_seconds=7200
    )

    with pytest.raises(ConfigurationError, match=r"queue retention 7200 s must be 60 s\.\.DLQ retention 3600 s"):
        stage.validate()


def test_nat_mode_without_a_gateway_is_refused() -> None:
    stage = StageConfig(
        name="x",
        network=NetworkMode.NAT,
        nat_gateways=0,
        database=DatabaseConfig(
            instance_type="t4g.micro",
            max_connections=80,
            multi_az=False,
            deletion_protection=False,
            backup_retention_days=1,
            rotation_days=None,
        ),
    )

    with pytest.raises(ConfigurationError, match="at least one NAT gateway"):
        stage.validate()
