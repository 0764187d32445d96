"""What every Sluice function has in common: the runtime, the handlers, the code it is given, its log group, and
an execution role that starts with nothing but writing to that log group (and, in a VPC, managing its network
interfaces in the stack's subnets behind its own security group).

No AWS managed policy: AWSLambdaBasicExecutionRole lets a function create log groups and write to any of them,
AWSLambdaVPCAccessExecutionRole lets it create and delete network interfaces anywhere in the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from sluice_cdk.config import LAMBDA_PYTHON_VERSION, Architecture
from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from constructs import Construct

__all__ = [
    "CONSUMER_HANDLER",
    "HTTPS_PORT",
    "INGEST_HANDLER",
    "MIGRATIONS_HANDLER",
    "RUNTIME",
    "VPC_CREATE_ACTION",
    "VPC_DESCRIBE_ACTIONS",
    "VPC_INTERFACE_ACTIONS",
    "FunctionOptions",
    "LambdaCode",
    "VpcPlacement",
    "log_retention",
    "python_function",
    "vpc_access_statements",
]

# The entry points the consumer and ingest packages define for Lambda.
CONSUMER_HANDLER: Final = "sluice_consumer.handler.lambda_handler"
MIGRATIONS_HANDLER: Final = "sluice_consumer.migrate.lambda_handler"
INGEST_HANDLER: Final = "sluice_ingest.handler.lambda_handler"
HTTPS_PORT: Final = 443
# Built from the same constant `make build` compiles bytecode for, so the two cannot drift apart.
RUNTIME: Final = lambda_.Runtime(
    f"python{LAMBDA_PYTHON_VERSION}", lambda_.RuntimeFamily.PYTHON, supports_inline_code=True
)
# What Lambda does with the execution role of a function in a VPC (Lambda developer guide, "Giving Lambda
# functions access to resources in an Amazon VPC"). CreateNetworkInterface is authorized on the interface, the
# subnet and the security group, so it is scoped to the function's own; the others act on interfaces whose ids
# exist only once created (any interface of this account and region); the Describe actions support no
# resource-level permissions at all ("Resource": "*", Service Authorization Reference).
VPC_CREATE_ACTION: Final = "ec2:CreateNetworkInterface"
VPC_INTERFACE_ACTIONS: Final = (
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
VPC_DESCRIBE_ACTIONS: Final = ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")
_ARCHITECTURES: Final = {
    Architecture.ARM64: lambda_.Architecture.ARM_64,
    Architecture.X86_64: lambda_.Architecture.X86_64,
}
# CloudWatch Logs accepts only these retention periods (days).
_RETENTION: Final = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LambdaCode:
    """The code of both functions, the architecture it was built for (tests pass inline code), and the digest of
    the migrations the consumer's code ships (:func:`sluice_cdk.migrations.migrations_digest`)."""

    consumer: lambda_.Code
    ingest: lambda_.Code
    migrations_digest: str
    architecture: Architecture = Architecture.ARM64


@dataclass(frozen=True, slots=True, kw_only=True)
class VpcPlacement:
    """Where a function in the VPC runs, and where its HTTPS calls to AWS APIs go (NAT or endpoints)."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    api_peer: ec2.IPeer

    def security_group(self, scope: Construct, construct_id: str, *, description: str) -> ec2.SecurityGroup:
        """A function's own security group: HTTPS to AWS APIs is its only egress until the stack adds more."""
        group = ec2.SecurityGroup(scope, construct_id, vpc=self.vpc, description=description, allow_all_outbound=False)
        group.add_egress_rule(self.api_peer, ec2.Port.tcp(HTTPS_PORT), "AWS APIs (SQS, Secrets Manager)")
        return group


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionOptions:
    """Settings shared by every function of a stage."""

    architecture: Architecture
    log_retention_days: int
    removal_policy: RemovalPolicy
    environment: Mapping[str, str]
    tracing: bool = False  # X-Ray active tracing, and Powertools' Tracer in the code (SLUICE_TRACING)


def log_retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for ``days``.

    Raises:
        ConfigurationError: CloudWatch Logs has no such retention period.
    """
    try:
        return _RETENTION[days]
    except KeyError:
        allowed = ", ".join(str(value) for value in _RETENTION)
        raise ConfigurationError(f"log retention {days} days is not one of {allowed}") from None


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    code: lambda_.Code,
    handler: str,
    description: str,
    memory_mib: int,
    timeout: Duration,
    options: FunctionOptions,
    environment: Mapping[str, str] | None = None,
    placement: VpcPlacement | None = None,
    security_group: ec2.ISecurityGroup | None = None,
) -> lambda_.Function:
    """A Python function with its own role and a log group that has a retention and a removal policy.

    The role may write to that log group only; with ``placement`` the function runs in the VPC's private subnets
    behind ``security_group`` (required then) and the role may manage its network interfaces there.

    Raises:
        ConfigurationError: ``placement`` without ``security_group``.
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=log_retention(options.log_retention_days),
        removal_policy=options.removal_policy,
    )
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{description.split(':', 1)[0]}: its own log group, and what the stack grants",
    )
    log_group.grant_write(role)
    if placement is not None:
        if security_group is None:
            raise ConfigurationError(f"{construct_id}: a function in the VPC needs its own security group")
        for statement in vpc_access_statements(scope, placement, security_group):
            role.add_to_policy(statement)
    return lambda_.Function(
        scope,
        construct_id,
        runtime=RUNTIME,
        architecture=_ARCHITECTURES[options.architecture],
        code=code,
        handler=handler,
        description=description,
        memory_size=memory_mib,
        timeout=timeout,
        environment={**options.environment, **(environment or {}), env.TRACING: str(options.tracing).lower()},
        tracing=lambda_.Tracing.ACTIVE if options.tracing else lambda_.Tracing.DISABLED,
        log_group=log_group,
        role=role,
        vpc=placement.vpc if placement else None,
        vpc_subnets=placement.subnets if placement else None,
        security_groups=[security_group] if security_group else None,
    )


def vpc_access_statements(
    scope: Construct, placement: VpcPlacement, security_group: ec2.ISecurityGroup
) -> list[iam.PolicyStatement]:
    """What Lambda needs of a function's role to attach it to ``placement``'s subnets behind ``security_group``."""
    stack = Stack.of(scope)

    def ec2_arn(resource: str, name: str) -> str:
        return stack.format_arn(
            service="ec2", resource=resource, resource_name=name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )

    interfaces = ec2_arn("network-interface", "*")
    selection = placement.subnets
    selected = placement.vpc.select_subnets(
        subnet_type=selection.subnet_type,
        subnet_group_name=selection.subnet_group_name,
        subnets=selection.subnets,
        availability_zones=selection.availability_zones,
        one_per_az=selection.one_per_az,
        subnet_filters=selection.subnet_filters,
    )
    subnets = [ec2_arn("subnet", subnet_id) for subnet_id in selected.subnet_ids]
    return [
        iam.PolicyStatement(
            actions=[VPC_CREATE_ACTION],
            resources=[interfaces, *subnets, ec2_arn("security-group", security_group.security_group_id)],
        ),
        iam.PolicyStatement(actions=list(VPC_INTERFACE_ACTIONS), resources=[interfaces]),
        iam.PolicyStatement(actions=list(VPC_DESCRIBE_ACTIONS), resources=["*"]),
    ]
