"""Stage configuration: the connection budget formula and the rules checked at synth time."""

from __future__ import annotations

import dataclasses

import pytest

from sluice_cdk.config import (
    MIGRATIONS_DEADLINE_MARGIN_SECONDS,
    MIGRATIONS_MIN_RETRY_BUDGET_SECONDS,
    STAGES,
    AlarmDestination,
    AlarmThresholds,
    ConnectionBudget,
    DatabaseConfig,
    NetworkMode,
    StageConfig,
    default_max_connections,
    stage_config,
)
from sluice_consumer import migrate
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
    assert budget.client_capacity == 72  # 67 consumer environments + 5 reserved
    assert budget.client_alarm_threshold(80) == 58  # ceil(72 x 0.8)


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
    dev, prod = stage_config("dev"), stage_config("prod", alarm_destination=AlarmDestination(nowhere=True))

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


def test_migrations_get_at_least_ten_minutes_of_retries_and_leave_the_trigger_provider_time_to_report() -> None:
    for name in STAGES:
        timeout = STAGES[name].migrations_timeout_seconds
        assert timeout - MIGRATIONS_DEADLINE_MARGIN_SECONDS >= MIGRATIONS_MIN_RETRY_BUDGET_SECONDS >= 600
        assert timeout <= 840  # the provider itself has 900 s
    # The retry budget the function computes from its timeout uses this same margin.
    assert migrate.DEADLINE_MARGIN_S == MIGRATIONS_DEADLINE_MARGIN_SECONDS


@pytest.mark.parametrize("timeout", [300, 614, 841, 900])
def test_migrations_timeout_outside_the_budget_is_refused(timeout: int) -> None:
    stage = dataclasses.replace(STAGES["dev"], migrations_timeout_seconds=timeout)

    with pytest.raises(ConfigurationError, match=rf"migrations timeout {timeout} s must be 615\.\.840 s"):
        stage.validate()


def test_prod_refuses_to_synthesize_with_alarms_going_nowhere_unless_said_so() -> None:
    with pytest.raises(ConfigurationError, match=r"stage prod has no alarm destination: pass -c sluice:alarm-dest"):
        stage_config("prod")

    assert stage_config("prod", alarm_destination=AlarmDestination.parse("none")).alarm_destination.nowhere
    assert stage_config("dev").alarm_destination == AlarmDestination()  # dev may keep them to itself


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none", AlarmDestination(nowhere=True)),
        (" NONE ", AlarmDestination(nowhere=True)),
        ("ops@example.com, oncall@example.org", AlarmDestination(emails=("ops@example.com", "oncall@example.org"))),
        (
            "arn:aws:sns:eu-west-1:123456789012:sluice-alarms",
            AlarmDestination(topic_arn="arn:aws:sns:eu-west-1:123456789012:sluice-alarms"),
        ),
    ],
)
def test_alarm_destination_is_emails_a_topic_or_explicitly_nowhere(text: str, expected: AlarmDestination) -> None:
    assert AlarmDestination.parse(text) == expected
    assert expected.configured


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "expected email addresses"),
        ("ops", "not an email address: ops"),
        ("arn:aws:sqs:eu-west-1:123456789012:queue", "is not an SNS topic ARN"),
    ],
)
def test_alarm_destination_that_is_none_of_the_three_is_refused(text: str, error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        AlarmDestination.parse(text)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"borrow_latency_ms": 30_000}, r"borrow latency alarm 30000 ms can never fire: .* 30000 ms borrow timeout"),
        ({"client_connections_percent": 120}, r"client connections alarm at 120 % of the capacity \(15\)"),
        ({"client_connections_percent": 10}, r"must lie above the 5 reserved connections"),
        ({"oldest_message_age_seconds": 4 * 24 * 3600}, r"oldest message age alarm 345600 s can never fire"),
    ],
)
def test_alarm_threshold_the_metric_cannot_reach_is_refused(change: dict[str, int], error: str) -> None:
    stage = dataclasses.replace(STAGES["dev"], alarms=AlarmThresholds(**change))

    with pytest.raises(ConfigurationError, match=error):
        stage.validate()
