"""The composed stacks (dev and prod, as `make synth` builds them): wiring, grants, order and outputs."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any, cast

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from sluice_cdk.config import STAGES
from sluice_cdk.migrations import migrations_digest
from sluice_cdk.stack import SluiceStack
from sluice_consumer import migrate
from sluice_consumer.migrations import available_migrations
from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError
from sluice_shared.topology import QueueTopology
from tests.unit.cdk.helpers import CDK_CONTEXT, MIGRATIONS_SOURCE, inline_code

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

CONSUME = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
]


def _one(template: Template, kind: str, pattern: dict[str, Any] | None = None) -> tuple[str, Mapping[str, Any]]:
    ((name, resource),) = template.find_resources(kind, pattern or {}).items()
    return name, resource


def _function(template: Template, handler: str) -> tuple[str, Mapping[str, Any]]:
    return _one(template, "AWS::Lambda::Function", {"Properties": {"Handler": handler}})


def _statements(template: Template, function: Mapping[str, Any]) -> list[dict[str, Any]]:
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    _, policy = _one(template, "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    # the template is untyped JSON; an IAM policy document's Statement is a list of objects
    return cast("list[dict[str, Any]]", policy["Properties"]["PolicyDocument"]["Statement"])


def policy_statements(template: Template, construct: str) -> list[dict[str, Any]]:
    """Every statement of the role of the function in construct ``construct`` (``"Consumer"``)."""
    functions = template.find_resources("AWS::Lambda::Function")
    (function,) = (resource for name, resource in functions.items() if name.startswith(f"{construct}Function"))
    return _statements(template, function)


def _without_platform(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements a function gets from the stack's wiring: all but its logs, network interfaces and tracing."""
    platform = ("logs:", "ec2:", "xray:")
    return [s for s in statements if not any(str(s["Action"]).count(prefix) for prefix in platform)]


def _ids(template: Template) -> dict[str, str]:
    queues = template.find_resources("AWS::SQS::Queue")
    return {
        "queue": next(name for name, q in queues.items() if "RedrivePolicy" in q["Properties"]),
        "dlq": next(name for name, q in queues.items() if "RedrivePolicy" not in q["Properties"]),
        "proxy": _one(template, "AWS::RDS::DBProxy")[0],
        "trigger": _one(template, "Custom::Trigger")[0],
    }


def test_consumer_may_consume_connect_as_its_user_and_dead_letter_nothing_more(dev_template: Template) -> None:
    ids = _ids(dev_template)
    _, consumer = _function(dev_template, "sluice_consumer.handler.lambda_handler")

    statements = _without_platform(_statements(dev_template, consumer))

    assert [statement["Action"] for statement in statements] == [CONSUME, "rds-db:connect", "sqs:SendMessage"]
    assert statements[0]["Resource"] == {"Fn::GetAtt": [ids["queue"], "Arn"]}
    assert statements[2]["Resource"] == {"Fn::GetAtt": [ids["dlq"], "Arn"]}
    # arn:<partition>:rds-db:<region>:<account>:dbuser:<proxy resource id>/sluice_writer
    parts = statements[1]["Resource"]["Fn::Join"][1]
    assert parts[-3:] == [
        ":dbuser:",
        {"Fn::Select": [6, {"Fn::Split": [":", {"Fn::GetAtt": [ids["proxy"], "DBProxyArn"]}]}]},
        "/sluice_writer",
    ]


def test_ingest_may_only_send_to_the_queue(dev_template: Template) -> None:
    ids = _ids(dev_template)
    _, ingest = _function(dev_template, "sluice_ingest.handler.lambda_handler")

    assert _without_platform(_statements(dev_template, ingest)) == [
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [ids["queue"], "Arn"]}}
    ]
    assert ingest["Properties"]["Environment"]["Variables"] == {
        env.QUEUE_URL: {"Ref": ids["queue"]},
        "POWERTOOLS_LOG_LEVEL": "INFO",
        env.TRACING: "false",
    }


def test_consumer_connects_as_the_writer_and_only_the_migrations_as_the_owner(staged: tuple[str, Template]) -> None:
    _stage, template = staged
    ids = _ids(template)
    users = {}
    for handler in ("sluice_consumer.handler.lambda_handler", "sluice_consumer.migrate.lambda_handler"):
        _, function = _function(template, handler)
        variables = function["Properties"]["Environment"]["Variables"]
        connect = [s for s in _statements(template, function) if s["Action"] == "rds-db:connect"]

        assert variables[env.DB_HOST] == {"Fn::GetAtt": [ids["proxy"], "Endpoint"]}
        assert (variables[env.DB_IAM_AUTH], variables[env.DB_SSLMODE]) == ("true", "verify-full")
        assert env.DB_SECRET_ARN not in variables
        assert all("secretsmanager" not in str(s["Action"]) for s in _statements(template, function))
        # IAM: the one user this role may rds-db:connect as is the one it is told to be.
        (statement,) = connect
        assert statement["Resource"]["Fn::Join"][1][-1] == f"/{variables[env.DB_USER]}"
        users[handler.split(".")[1]] = variables[env.DB_USER]

    # Nothing on the hot path holds the schema owner's credentials.
    assert users == {"handler": "sluice_writer", "migrate": "sluice"}
    _, consumer = _function(template, "sluice_consumer.handler.lambda_handler")
    assert consumer["Properties"]["Environment"]["Variables"][env.DLQ_URL] == {"Ref": ids["dlq"]}


def test_proxy_reaches_the_writer_end_to_end_with_iam(staged: tuple[str, Template]) -> None:
    _stage, template = staged
    _, proxy = _one(template, "AWS::RDS::DBProxy")
    _, instance = _one(template, "AWS::RDS::DBInstance")

    assert proxy["Properties"]["DefaultAuthScheme"] == "IAM_AUTH"
    assert [auth["IAMAuth"] for auth in proxy["Properties"]["Auth"]] == ["REQUIRED"]  # the owner's secret only
    assert instance["Properties"]["EnableIAMDatabaseAuthentication"] is True


def test_consumer_function_and_event_source_change_only_after_this_deploys_migrations_ran(
    staged: tuple[str, Template],
) -> None:
    stage, template = staged
    ids = _ids(template)
    _, mapping = _one(template, "AWS::Lambda::EventSourceMapping")
    _, consumer = _function(template, "sluice_consumer.handler.lambda_handler")
    _, trigger = _one(template, "Custom::Trigger")

    assert mapping["DependsOn"] == [ids["trigger"]]
    assert ids["trigger"] in consumer["DependsOn"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": STAGES[stage].budget.max_concurrency}
    # The migrations run once the proxy, its target and the security group rules exist.
    assert {ids["proxy"], _one(template, "AWS::RDS::DBProxyTargetGroup")[0]} <= set(trigger["DependsOn"])


def test_migrations_rerun_when_a_migration_file_changes(staged: tuple[str, Template]) -> None:
    _stage, template = staged
    _, trigger = _one(template, "Custom::Trigger")
    shipped = "".join(f"{m.name}.sql\0{m.checksum}\n" for m in available_migrations())

    # The digest of exactly the files the migration runner applies (name and the checksum it records).
    assert trigger["Properties"]["MigrationsDigest"] == hashlib.sha256(shipped.encode()).hexdigest()


def test_migrations_digest_changes_with_any_migration_file(tmp_path: Path) -> None:
    for migration in available_migrations():
        (tmp_path / f"{migration.name}.sql").write_text(migration.sql, encoding="utf-8")
    before = migrations_digest(tmp_path)
    first = min(tmp_path.glob("*.sql"))
    first.write_text(first.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")

    assert migrations_digest(tmp_path) != before
    assert before == migrations_digest(MIGRATIONS_SOURCE)


def test_migrations_function_and_its_trigger_allow_a_slow_first_proxy_registration(
    staged: tuple[str, Template],
) -> None:
    _stage, template = staged
    _, function = _function(template, "sluice_consumer.migrate.lambda_handler")
    _, trigger = _one(template, "Custom::Trigger")
    timeout = function["Properties"]["Timeout"]

    assert timeout - migrate.DEADLINE_MARGIN_S >= 600  # ten minutes of retries at least
    assert int(trigger["Properties"]["Timeout"]) == timeout * 1000
    # The trigger provider (15 minutes itself) outlives the invocation it waits for.
    provider = next(
        resource
        for name, resource in template.find_resources("AWS::Lambda::Function").items()
        if name.startswith("AWSCDKTriggerCustomResourceProvider")
    )
    assert provider["Properties"]["Timeout"] > timeout


def test_proxy_is_reachable_only_from_the_consumer_and_the_migrations(dev_template: Template) -> None:
    _, proxy = _one(dev_template, "AWS::RDS::DBProxy")
    (proxy_group,) = proxy["Properties"]["VpcSecurityGroupIds"]
    rules = dev_template.find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {"GroupId": proxy_group}})
    sources = sorted(rule["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in rules.values())
    clients = [
        _one(
            dev_template,
            "AWS::EC2::SecurityGroup",
            {"Properties": {"GroupDescription": Match.string_like_regexp(name)}},
        )[0]
        for name in ("^Sluice consumer:", "^Sluice migrations:")
    ]

    assert sources == sorted(clients)
    assert {(r["Properties"]["FromPort"], r["Properties"]["ToPort"]) for r in rules.values()} == {(5432, 5432)}


def test_database_is_in_isolated_subnets_and_not_public(dev_template: Template) -> None:
    _, group = _one(dev_template, "AWS::RDS::DBSubnetGroup")
    subnets = {ref["Ref"] for ref in group["Properties"]["SubnetIds"]}

    assert subnets == set(dev_template.find_resources("AWS::EC2::Subnet"))
    dev_template.has_resource_properties("AWS::RDS::DBInstance", {"PubliclyAccessible": False})
    assert dev_template.find_resources("AWS::EC2::InternetGateway") == {}


def test_outputs_give_queue_dlq_ingest_and_proxy(staged: tuple[str, Template]) -> None:
    stage, template = staged
    ids = _ids(template)
    outputs = template.to_json()["Outputs"]
    url, _ = _one(template, "AWS::Lambda::Url")

    assert outputs["QueueUrl"]["Value"] == {"Ref": ids["queue"]}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": ids["dlq"]}
    assert outputs["IngestUrl"]["Value"] == {"Fn::GetAtt": [url, "FunctionUrl"]}
    assert outputs["ProxyEndpoint"]["Value"] == {"Fn::GetAtt": [ids["proxy"], "Endpoint"]}
    assert outputs["ConsumerMaxConcurrency"]["Value"] == str(STAGES[stage].budget.max_concurrency)
    policy, _ = _one(template, "AWS::IAM::ManagedPolicy")
    assert outputs["ProducerPolicyArn"]["Value"] == {"Ref": policy}


def test_prod_keeps_its_data_when_the_stack_goes(prod_template: Template) -> None:
    for kind in ("AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret"):
        policies = {resource["DeletionPolicy"] for resource in prod_template.find_resources(kind).values()}
        assert policies == {"Retain"}, kind
    prod_template.has_resource("AWS::RDS::DBInstance", {"DeletionPolicy": "Snapshot"})
    prod_template.has_resource_properties("AWS::RDS::DBInstance", {"MultiAZ": True, "DeletionProtection": True})


def test_dev_is_disposable(dev_template: Template) -> None:
    for kind in ("AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::RDS::DBInstance", "AWS::SecretsManager::Secret"):
        policies = {resource["DeletionPolicy"] for resource in dev_template.find_resources(kind).values()}
        assert policies == {"Delete"}, kind


def test_broken_topology_fails_at_synth_time_with_the_rule() -> None:
    stage = dataclasses.replace(
        STAGES["dev"], topology=QueueTopology(consumer_timeout_seconds=120, visibility_timeout_seconds=300)
    )

    with pytest.raises(ConfigurationError, match=r"visibility timeout 300 s is below 6 x consumer timeout \(120 s\)"):
        SluiceStack(cdk.App(context=CDK_CONTEXT), "Broken", config=stage, code=inline_code())


def test_prod_traces_every_function_with_xray_and_tells_the_code(prod_template: Template) -> None:
    functions = prod_template.find_resources("AWS::Lambda::Function")
    ours = {
        key: resource
        for key, resource in functions.items()
        if str(resource["Properties"].get("Handler", "")).startswith("sluice_")
    }

    assert len(ours) == 3
    for resource in ours.values():
        assert resource["Properties"]["TracingConfig"] == {"Mode": "Active"}
        assert resource["Properties"]["Environment"]["Variables"][env.TRACING] == "true"
