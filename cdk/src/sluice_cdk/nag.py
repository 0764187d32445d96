"""cdk-nag acknowledgements: each AWS Solutions finding Sluice accepts, on the construct it concerns, with why.

cdk-nag 3 fails the synth on any finding not acknowledged here. Stage-dependent findings (Multi-AZ, deletion
protection, rotation) are acknowledged only for a stage whose configuration turns the feature off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import Acknowledgment, Validations

from sluice_cdk.config import LAMBDA_PYTHON_VERSION

if TYPE_CHECKING:
    from constructs import IConstruct

    from sluice_cdk.stack import SluiceStack

__all__ = ["acknowledge", "acknowledge_stack_findings"]

_PACK: Final = "AwsSolutions::AwsSolutions-"
_MANAGED_POLICY: Final = "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{}]"


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
            _MANAGED_POLICY.format("AWSLambdaBasicExecutionRole"),
            "AWS's Lambda logging policy (CreateLogGroup/CreateLogStream/PutLogEvents) is all this role gets "
            "from a managed policy; every other permission is a scoped grant on this function's own role.",
        )
        acknowledge(
            function,
            "L1",
            f"Pinned to python{LAMBDA_PYTHON_VERSION} on purpose: `make build` selects cp"
            f"{LAMBDA_PYTHON_VERSION.replace('.', '')} wheels and compiles bytecode for it, and the smoke test "
            "imports the asset under that version; LAMBDA_PYTHON_VERSION moves all three together.",
        )
        if config.tracing:
            acknowledge(
                function,
                "IAM5[Resource::*]",
                "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
                "resource-level permissions (Service Authorization Reference), so CDK grants them on '*'.",
            )
    for function in vpc_functions:
        acknowledge(
            function,
            _MANAGED_POLICY.format("AWSLambdaVPCAccessExecutionRole"),
            "A function in a VPC needs to create and delete its network interfaces; the EC2 actions in AWS's "
            "managed policy support no resource-level scoping, so a custom policy would be the same.",
        )
    instance = stack.database.instance
    acknowledge(
        instance,
        "RDS11",
        "Clients reach PostgreSQL only through RDS Proxy, which always listens on 5432 for PostgreSQL; the "
        "instance's security group admits only the proxy (and the rotation function), so another port hides nothing.",
    )
    database = config.database
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
        acknowledge(
            stack.database.generated_secret,
            "SMG4",
            f"Stage {config.name} does not rotate its generated secret (StageConfig.database.rotation_days), "
            "sparing the rotation function; prod rotates it every 30 days.",
        )
