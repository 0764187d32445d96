"""A plan's CDK context (``sluice plan --cdk-context``) sizes its stage: the synthesized template carries it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Match, Template

from sluice_cdk.app import create_app, main, stack_name
from sluice_cdk.config import AlarmDestination, AlarmThresholds, NetworkMode, StageConfig, stage_config
from sluice_cdk.monitoring import ALARMS
from sluice_cdk.plan import apply_plan
from sluice_cli.plan import assumptions as a
from sluice_cli.plan.arithmetic import make_plan
from sluice_cli.plan.assumptions import STACK_ALARMS, STACK_DASHBOARDS
from sluice_cli.plan.choices import Network
from sluice_cli.plan.consumer import minimum_concurrency
from sluice_cli.plan.model import Plan, Workload
from sluice_shared.errors import ConfigurationError
from sluice_shared.plan_context import PLAN_CONTEXT_KEY, PlanContext
from tests.unit.cdk.helpers import APP_CONTEXT, CDK_CONTEXT, inline_code
from tests.unit.cli.plan.worked import MEASURED, PRICES

if TYPE_CHECKING:
    from pathlib import Path


def worked_plan(**workload: Any) -> Plan:
    """The worked example of tests/unit/cli/plan/test_arithmetic.py, for ``stage``."""
    values: dict[str, Any] = {"rate_per_s": 1000.0, "peak_rate_per_s": 2000.0, "payload_bytes": 800}
    return make_plan(Workload(**(values | workload)), measured=MEASURED, prices=PRICES)


def prod_stage() -> StageConfig:
    """The prod stage as the tests synthesize it (prod refuses to deploy alarms nobody is told of)."""
    return stage_config("prod", alarm_destination=AlarmDestination(nowhere=True))


def test_a_plan_replaces_the_sizing_of_its_stage_and_its_budget_gives_the_planned_concurrency() -> None:
    plan = worked_plan().context  # prod: batch 1,000, window 5 s, 512 MB, 60 s, concurrency 3, db.t4g.small

    prod = apply_plan(prod_stage(), plan)

    topology = prod.topology
    assert (topology.batch_size, topology.batching_window_seconds, topology.consumer_timeout_seconds) == (1000, 5, 60)
    assert topology.effective_visibility_timeout_seconds == 365
    assert (prod.consumer_memory_mib, prod.concurrency_cap, prod.budget.max_concurrency) == (512, 3, 3)
    assert (prod.database.instance_type, prod.database.max_connections, prod.database.multi_az) == (
        "t4g.small",
        190,
        True,
    )
    assert (prod.database.allocated_storage_gib, prod.database.max_allocated_storage_gib) == (2840, 36910)
    # what the plan does not size stays the stage's
    assert (prod.database.deletion_protection, prod.database.rotation_days, prod.tracing) == (True, 30, True)
    assert prod.network is NetworkMode.ENDPOINTS


def test_a_fifo_plan_with_nat_gateways_maps_onto_the_stage() -> None:
    plan = worked_plan(
        rate_per_s=500.0,
        peak_rate_per_s=1000.0,
        fifo=True,
        groups=50,
        stage="dev",
        multi_az=False,
        network=Network.NAT,
        nat_gateways=1,
        log_retention_days=14,
        tracing=False,
    ).context

    dev = apply_plan(stage_config("dev"), plan)

    assert (dev.topology.fifo, dev.topology.batch_size, dev.topology.batching_window_seconds) == (True, 10, 0)
    assert (dev.network, dev.nat_gateways, dev.log_retention_days, dev.tracing) == (NetworkMode.NAT, 1, 14, False)
    assert (dev.database.instance_type, dev.database.multi_az, dev.budget.max_concurrency) == ("t4g.small", False, 3)


def test_a_plan_for_another_stage_leaves_this_one_alone() -> None:
    assert apply_plan(stage_config("dev"), worked_plan().context) == stage_config("dev")
    assert apply_plan(stage_config("dev"), None) == stage_config("dev")


def test_a_plan_whose_budget_cannot_give_its_concurrency_is_refused() -> None:
    # 190 max_connections x 90 % - 10 reserved = 161 consumers at most
    plan = worked_plan().context.model_copy(update={"max_concurrency": 200})

    with pytest.raises(ConfigurationError, match=r"asks for maximum concurrency 200, but its budget .* gives 161"):
        apply_plan(prod_stage(), plan)


def test_a_plan_breaking_a_stage_rule_is_refused_by_the_rule() -> None:
    plan = worked_plan().context.model_copy(update={"batching_window_seconds": 0})  # batch 1,000 needs a window

    with pytest.raises(ConfigurationError, match=r"batch size must be 1\.\.10 for this queue type and batching window"):
        apply_plan(prod_stage(), plan)


def test_the_context_value_may_be_json_text_as_cdk_minus_c_passes_it() -> None:
    context = worked_plan().context

    text = json.dumps(context.to_context()[PLAN_CONTEXT_KEY])

    assert PlanContext.from_context_value(text) == context


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not a plan from `sluice plan --cdk-context`: Expecting property name"),
        ({"stage": "prod"}, "fifo: Field required"),
        ({**worked_plan().context.to_context()[PLAN_CONTEXT_KEY], "batchSize": "1000"}, "batchSize: Input should be"),
        ({**worked_plan().context.to_context()[PLAN_CONTEXT_KEY], "extra": 1}, "extra: Extra inputs"),
        ({**worked_plan().context.to_context()[PLAN_CONTEXT_KEY], "logRetentionDays": 31}, "not a CloudWatch"),
    ],
)
def test_a_malformed_plan_is_refused_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PlanContext.from_context_value(value)


def test_a_plan_for_an_unknown_stage_is_refused_before_anything_is_built() -> None:
    context = worked_plan(stage="qa").context.to_context()

    with pytest.raises(ConfigurationError, match="sluice:plan is for unknown stage 'qa': expected one of dev, prod"):
        create_app(context={**CDK_CONTEXT, **context}, code=inline_code)


def test_make_synth_reads_a_plan_saved_as_cdk_context_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cdk.json").write_text(json.dumps({"context": CDK_CONTEXT}))
    (tmp_path / "cdk.context.json").write_text(json.dumps({PLAN_CONTEXT_KEY: {"stage": "prod"}}))

    assert main(tmp_path / "cdk.json") == 2
    assert capsys.readouterr().err.startswith("sluice-cdk: sluice:plan: not a plan from `sluice plan --cdk-context`")


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Template]:
    """The prod stack synthesized (cdk-nag included) from a plan's context, as `make synth` would with it saved."""
    plan = worked_plan(peak_rate_per_s=5000.0)  # prod: db.m7g.large, concurrency 3
    context = {**APP_CONTEXT, **plan.context.to_context(), "sluice:stages": "prod"}
    app = create_app(context=context, code=inline_code, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    template = Template.from_json(app.synth().get_stack_by_name(stack_name("prod")).template)
    return plan, template


def test_the_synthesized_event_source_and_consumer_carry_the_plan(planned: tuple[Plan, Template]) -> None:
    plan, template = planned
    consumer = plan.consumer
    assert (consumer.batch_size, consumer.batching_window_s, consumer.max_concurrency) == (1000, 5, 3)

    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": consumer.batch_size,
            "MaximumBatchingWindowInSeconds": consumer.batching_window_s,
            "ScalingConfig": {"MaximumConcurrency": consumer.max_concurrency},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "sluice_consumer.handler.lambda_handler",
            "MemorySize": consumer.memory_mib,
            "Timeout": consumer.timeout_s,
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value(), "VisibilityTimeout": consumer.visibility_timeout_s}
    )
    template.has_output("ConsumerMaxConcurrency", {"Value": str(consumer.max_concurrency)})


def test_the_synthesized_database_carries_the_plan(planned: tuple[Plan, Template]) -> None:
    plan, template = planned
    database = plan.database
    assert (database.instance_type, database.max_connections) == ("m7g.large", 870)

    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "DBInstanceClass": f"db.{database.instance_type}",
            "MultiAZ": True,
            "AllocatedStorage": str(database.allocated_storage_gib),
            "MaxAllocatedStorage": database.max_allocated_storage_gib,
        },
    )
    template.has_resource_properties(
        "AWS::RDS::DBParameterGroup", {"Parameters": Match.object_like({"max_connections": "870"})}
    )
    template.has_resource_properties(
        "AWS::RDS::DBProxyTargetGroup",
        {"ConnectionPoolConfigurationInfo": Match.object_like({"MaxConnectionsPercent": 90})},
    )
    # the client-connections alarm follows the planned budget: ceil(80 % x (3 consumers + 10 reserved)) = 11
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "ClientConnections", "Threshold": 11})


def test_the_cost_estimate_counts_what_the_stack_creates(planned: tuple[Plan, Template]) -> None:
    _, template = planned
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    subnets_per_endpoint = {len(endpoint["Properties"]["SubnetIds"]) for endpoint in endpoints.values()}

    assert len(template.find_resources("AWS::CloudWatch::Alarm")) == STACK_ALARMS
    assert len(template.find_resources("AWS::CloudWatch::Dashboard")) == STACK_DASHBOARDS
    assert subnets_per_endpoint == {2}  # one endpoint network interface per AZ, each billed by the hour
    # SQS, Secrets Manager and (tracing, as planned) X-Ray
    assert len(endpoints) == a.STACK_ENDPOINT_SERVICES + 1
    assert a.STACK_AVAILABILITY_ZONES == 2
    assert len(template.find_resources("AWS::SecretsManager::Secret")) == 1


def test_the_plan_reasons_with_the_stacks_own_settings() -> None:
    database = prod_stage().database

    assert (
        database.proxy_borrow_timeout_seconds,
        database.proxy_max_connections_percent,
    ) == (a.PROXY_BORROW_TIMEOUT_S, a.PROXY_MAX_CONNECTIONS_PERCENT)
    assert database.reserved_connections == a.RESERVED_CONNECTIONS
    assert AlarmThresholds().client_connections_percent == a.CLIENT_ALARM_PERCENT
    assert prod_stage().ingest_memory_mib == a.INGEST_MEMORY_MIB
    assert len(ALARMS) == a.STACK_ALARMS


def test_the_smallest_planned_concurrency_is_one_the_stack_accepts() -> None:
    # with 10 reserved: 2 consumers put the client alarm at ceil(80 % x 12) = 10, not above the reserve; 3 at 11
    assert minimum_concurrency() == 3
    too_few = worked_plan().context.model_copy(update={"max_concurrency": 2})

    with pytest.raises(ConfigurationError, match=r"client connections alarm at 80 % of the capacity \(12\)"):
        apply_plan(prod_stage(), too_few)
    assert apply_plan(prod_stage(), worked_plan().context).budget.max_concurrency == 3
