"""cdk-nag acknowledgements: each AWS Solutions finding Sluice accepts, on the construct it concerns, with why.

Each reason names what it excuses (the actions a wildcard covers, the configuration switch behind a finding);
``tests/unit/cdk/test_nag.py`` checks the names against the synthesized policies.

cdk-nag 3 fails the synth on any finding not acknowledged here. Stage-dependent findings (Multi-AZ, deletion
protection, rotation) are acknowledged only for a stage whose configuration turns the feature off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import Acknowledgment, Validations

from sluice_cdk.config import LAMBDA_PYTHON_VERSION
from sluice_cdk.lambdas import VPC_CREATE_ACTION, VPC_DESCRIBE_ACTIONS, VPC_INTERFACE_ACTIONS

if TYPE_CHECKING:
    from aws_cdk import aws_lambda as lambda_
    from constructs import IConstruct

    from sluice_cdk.stack import SluiceStack

__all__ = ["XRAY_ACTIONS", "acknowledge", "acknowledge_stack_findings"]

_PACK: Final = "AwsSolutions::AwsSolutions-"
# What CDK grants a function with active tracing (on "*").
XRAY_ACTIONS: Final = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
_NETWORK_INTERFACES: Final = "arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*"


def _role(function: lambda_.Function) -> IConstruct:
    role = function.role
    if role is None:  # pragma: no cover - python_function always gives one
        raise TypeError(f"{function.node.path} has no role")
    return role


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge AWS Solutions ``rule`` (``"RDS11"``, ``"IAM4[...]"``) on ``scope`` and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{_PACK}{rule}", reason=reason))


def acknowledge_stack_findings(stack: SluiceStack) -> None:
    """Acknowledge the findings Sluice accepts by design in ``stack``."""
    config = stack.config
    vpc_functions = (stack.consumer.function, stack.migrations.function)
    for function in (*vpc_functions, stack.ingest.function):
        acknowledge(
            function,
            "L1",
            f"Pinned to python{LAMBDA_PYTHON_VERSION} on purpose: `make build` selects cp"
            f"{LAMBDA_PYTHON_VERSION.replace('.', '')} wheels and compiles bytecode for it, and the smoke test "
            "imports the asset under that version; LAMBDA_PYTHON_VERSION moves all three together.",
        )
    for function in vpc_functions:
        acknowledge(
            _role(function),
            f"IAM5[Resource::{_NETWORK_INTERFACES}]",
            f"{', '.join(VPC_INTERFACE_ACTIONS)} act on the network interfaces Lambda creates for a function in a "
            "VPC, whose ids exist only once created, so they name any interface of this account and region; "
            f"{VPC_CREATE_ACTION} names them too (an interface about to be created has no id) and is otherwise "
            "limited to the function's own subnets and security group.",
        )
    for function in (*vpc_functions, *((stack.ingest.function,) if config.tracing else ())):
        groups = []
        if function in vpc_functions:
            groups.append(f"{' and '.join(VPC_DESCRIBE_ACTIONS)} (Lambda's VPC attachment)")
        if config.tracing:
            groups.append(f"{' and '.join(XRAY_ACTIONS)} (X-Ray active tracing)")
        acknowledge(
            _role(function),
            "IAM5[Resource::*]",
            f"{'; '.join(groups)}: these actions support no resource-level permissions (Service Authorization "
            "Reference), so they are granted on '*'; every other action of this role names its resources.",
        )
    instance = stack.database.instance
    database = config.database
    admitted = "the proxy and the secret rotation functions" if database.rotation_days else "the proxy"
    acknowledge(
        instance,
        "RDS11",
        "Clients reach PostgreSQL only through RDS Proxy, which always listens on 5432 for PostgreSQL; the "
        f"instance's security group admits only {admitted}, so another port would hide nothing.",
    )
    if not database.multi_az:
        acknowledge(
            instance,
            "RDS3",
            f"Stage {config.name} is disposable and single-AZ to halve its cost (StageConfig.database.multi_az); "
            "prod runs Multi-AZ.",
        )
    if not database.deletion_protection:
        acknowledge(
            instance,
            "RDS10",
            f"Stage {config.name} is disposable: `cdk destroy` must be able to delete it "
            "(StageConfig.database.deletion_protection); prod enables deletion protection.",
        )
    if database.rotation_days is None:
        for secret in (stack.database.generated_secret, stack.database.generated_writer_secret):
            if secret is not None:
                acknowledge(
                    secret,
                    "SMG4",
                    f"Stage {config.name} does not rotate its generated secrets (StageConfig.database."
                    "rotation_days), sparing the rotation functions; prod rotates them every 30 days.",
                )
