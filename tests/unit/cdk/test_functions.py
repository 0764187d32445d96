"""The consumer, ingest and migration functions, each in an empty stack."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from sluice_cdk.config import Architecture
from sluice_cdk.consumer import ConsumerFunction
from sluice_cdk.ingest import IngestFunction
from sluice_cdk.lambdas import FunctionOptions, VpcPlacement
from sluice_cdk.migrations import Migrations
from sluice_shared.topology import QueueTopology
from tests.unit.cdk.helpers import empty_stack, inline_code, logical_id

OPTIONS = FunctionOptions(
    architecture=Architecture.ARM64,
    log_retention_days=30,
    removal_policy=RemovalPolicy.DESTROY,
    environment={"POWERTOOLS_LOG_LEVEL": "INFO"},
)
TOPOLOGY = QueueTopology(consumer_timeout_seconds=45, batch_size=250, batching_window_seconds=5)
DIGEST = "0" * 64


def _vpc(stack: Any) -> ec2.Vpc:
    return ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )


def _placement(vpc: ec2.Vpc) -> VpcPlacement:
    return VpcPlacement(
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        api_peer=ec2.Peer.ipv4("10.0.0.0/16"),
    )


@pytest.fixture(scope="module")
def consumer() -> tuple[Template, dict[str, str]]:
    return _consumer(TOPOLOGY)


def _consumer(topology: QueueTopology) -> tuple[Template, dict[str, str]]:
    stack = empty_stack()
    vpc = _vpc(stack)
    queue = sqs.Queue(stack, "Queue")
    construct = ConsumerFunction(
        stack,
        "Consumer",
        code=inline_code().consumer,
        options=OPTIONS,
        placement=_placement(vpc),
        queue=queue,
        topology=topology,
        max_concurrency=12,
        memory_mib=512,
        environment={"SLUICE_DB_HOST": "proxy.example"},
    )
    ids = {
        "queue": logical_id(stack, queue),
        "sg": logical_id(stack, construct.security_group),
        "role": logical_id(stack, construct.function.role),
        "logs": logical_id(stack, construct.function.log_group),
        **{f"subnet{index}": logical_id(stack, subnet) for index, subnet in enumerate(vpc.isolated_subnets)},
    }
    return Template.from_stack(stack), ids


@pytest.fixture(scope="module")
def ingest() -> Template:
    return _ingest()[0]


def _ingest() -> tuple[Template, dict[str, str]]:
    stack = empty_stack()
    construct = IngestFunction(
        stack,
        "Ingest",
        code=inline_code().ingest,
        options=FunctionOptions(
            architecture=Architecture.X86_64, log_retention_days=7, removal_policy=RemovalPolicy.RETAIN, environment={}
        ),
        memory_mib=256,
        timeout_seconds=10,
        environment={"SLUICE_QUEUE_URL": "https://sqs.example/queue"},
    )
    producer = iam.Role(stack, "Producer", assumed_by=iam.AccountRootPrincipal())
    construct.grant_producer(producer)
    ids = {"function": logical_id(stack, construct.function), "producer": logical_id(stack, producer)}
    return Template.from_stack(stack), ids


# What a producer needs for an AWS_IAM function URL since October 2025: both actions, each for URL calls only.
def _producer_statements(function: str) -> list[dict[str, object]]:
    arn = {"Fn::GetAtt": [function, "Arn"]}
    return [
        {
            "Action": "lambda:InvokeFunctionUrl",
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
            "Effect": "Allow",
            "Resource": arn,
        },
        {
            "Action": "lambda:InvokeFunction",
            "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": True}},
            "Effect": "Allow",
            "Resource": arn,
        },
    ]


def test_producer_policy_grants_both_actions_a_function_url_caller_needs() -> None:
    template, ids = _ingest()
    (policy,) = template.find_resources("AWS::IAM::ManagedPolicy").values()

    assert policy["Properties"]["PolicyDocument"]["Statement"] == _producer_statements(ids["function"])


def test_grant_producer_gives_an_identity_both_actions() -> None:
    template, ids = _ingest()
    (policy,) = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": ids["producer"]}]}}
    ).values()

    assert policy["Properties"]["PolicyDocument"]["Statement"] == _producer_statements(ids["function"])


@pytest.fixture(scope="module")
def migrations() -> tuple[Template, dict[str, str]]:
    stack = empty_stack()
    vpc = _vpc(stack)
    schema_owner = ec2.SecurityGroup(stack, "RunAfterMe", vpc=vpc)
    construct = Migrations(
        stack,
        "Migrations",
        code=inline_code().consumer,
        digest=DIGEST,
        options=OPTIONS,
        placement=_placement(vpc),
        environment={"SLUICE_DB_HOST": "proxy.example"},
        timeout_seconds=780,
        run_after=[schema_owner],
    )
    ids = {"run_after": logical_id(stack, schema_owner), "function": logical_id(stack, construct.function)}
    return Template.from_stack(stack), ids


def test_consumer_event_source_reports_partial_batch_failures_within_the_budget(
    consumer: tuple[Template, dict[str, str]],
) -> None:
    template, ids = consumer
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [ids["queue"], "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 250,
            "MaximumBatchingWindowInSeconds": 5,
            "ScalingConfig": {"MaximumConcurrency": 12},
        },
    )


def test_consumer_runs_in_the_vpc_with_its_own_https_only_security_group(
    consumer: tuple[Template, dict[str, str]],
) -> None:
    template, ids = consumer
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "sluice_consumer.handler.lambda_handler",
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Timeout": 45,
            "MemorySize": 512,
            "VpcConfig": {"SecurityGroupIds": [{"Fn::GetAtt": [ids["sg"], "GroupId"]}], "SubnetIds": Match.any_value()},
            "Environment": {"Variables": {"SLUICE_DB_HOST": "proxy.example", "POWERTOOLS_LOG_LEVEL": "INFO"}},
            "LoggingConfig": {"LogGroup": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupEgress": [
                {
                    "CidrIp": "10.0.0.0/16",
                    "FromPort": 443,
                    "ToPort": 443,
                    "IpProtocol": "tcp",
                    "Description": Match.any_value(),
                }
            ],
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def _ec2_arn(resource: str, name: object) -> dict[str, object]:
    prefix = ["arn:", {"Ref": "AWS::Partition"}, ":ec2:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}]
    return (
        {"Fn::Join": ["", [*prefix, f":{resource}/", name]]}
        if name != "*"
        else {"Fn::Join": ["", [*prefix, f":{resource}/*"]]}
    )


def test_consumer_role_writes_its_own_logs_manages_its_own_interfaces_and_consumes_its_queue(
    consumer: tuple[Template, dict[str, str]],
) -> None:
    template, ids = consumer
    (role,) = template.find_resources("AWS::IAM::Role", {"Properties": {"Description": Match.any_value()}}).values()
    (policy,) = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": ids["role"]}]}}).values()
    interfaces = _ec2_arn("network-interface", "*")

    assert "ManagedPolicyArns" not in role["Properties"]  # neither AWSLambdaBasic... nor AWSLambdaVPCAccess...
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["logs"], "Arn"]},
        },
        {
            "Action": "ec2:CreateNetworkInterface",
            "Effect": "Allow",
            "Resource": [
                interfaces,
                _ec2_arn("security-group", {"Fn::GetAtt": [ids["sg"], "GroupId"]}),
                _ec2_arn("subnet", {"Ref": ids["subnet0"]}),
                _ec2_arn("subnet", {"Ref": ids["subnet1"]}),
            ],
        },
        {
            "Action": ["ec2:AssignPrivateIpAddresses", "ec2:DeleteNetworkInterface", "ec2:UnassignPrivateIpAddresses"],
            "Effect": "Allow",
            "Resource": interfaces,
        },
        {"Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], "Effect": "Allow", "Resource": "*"},
        {
            "Action": [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [ids["queue"], "Arn"]},
        },
    ]


def test_ingest_sits_outside_the_vpc_behind_an_iam_function_url(ingest: Template) -> None:
    ingest.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "sluice_ingest.handler.lambda_handler",
            "Architectures": ["x86_64"],
            "VpcConfig": Match.absent(),
            "Environment": {"Variables": {"SLUICE_QUEUE_URL": "https://sqs.example/queue"}},
        },
    )
    ingest.has_resource_properties("AWS::Lambda::Url", {"AuthType": "AWS_IAM"})
    ingest.has_resource("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 7}, "DeletionPolicy": "Retain"})


def test_migrations_run_the_consumer_migration_entry_point_in_the_vpc(
    migrations: tuple[Template, dict[str, str]],
) -> None:
    template, _ = migrations
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Handler": "sluice_consumer.migrate.lambda_handler", "Timeout": 780, "VpcConfig": Match.any_value()},
    )


def test_migrations_trigger_reruns_on_new_code_after_its_prerequisites(
    migrations: tuple[Template, dict[str, str]],
) -> None:
    template, ids = migrations
    (trigger,) = template.find_resources("Custom::Trigger").values()

    assert trigger["Properties"]["ExecuteOnHandlerChange"] is True
    assert trigger["Properties"]["InvocationType"] == "RequestResponse"
    # A changed migration file changes this property: an Update, which the trigger provider answers by invoking.
    assert trigger["Properties"]["MigrationsDigest"] == DIGEST
    assert trigger["Properties"]["Timeout"] == "780000"  # the provider waits the function's whole timeout
    # A version of the function: a code or configuration change creates a new one and runs the trigger again.
    assert trigger["Properties"]["HandlerArn"]["Ref"].startswith("MigrationsFunctionCurrentVersion")
    assert ids["run_after"] in trigger["DependsOn"]


def test_fifo_event_source_has_no_batching_window() -> None:
    template, _ = _consumer(QueueTopology(fifo=True, batch_size=10, batching_window_seconds=0))

    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": Match.absent(),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
