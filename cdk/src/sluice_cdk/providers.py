"""The functions CDK adds on its own (custom resource providers), held to the rules of Sluice's functions.

CDK's ``CustomResourceProvider`` (behind ``triggers.Trigger`` and the VPC's restricted default security group)
is a raw ``AWS::Lambda::Function`` with a raw role carrying AWSLambdaBasicExecutionRole: its logs go to a log
group Lambda creates on first use, kept forever, and the role may create and write to any log group. Here each
such provider gets a log group with the stage's retention and removal policy, and its role loses the managed
policy for one that writes to that group only. The function waits for both, so its first run already logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from sluice_cdk.lambdas import log_retention

if TYPE_CHECKING:
    from aws_cdk import RemovalPolicy

__all__ = ["LOG_WRITE_ACTIONS", "provider_functions", "scope_provider_functions"]

LAMBDA_FUNCTION: Final = "AWS::Lambda::Function"
LOG_WRITE_ACTIONS: Final = ("logs:CreateLogStream", "logs:PutLogEvents")
# The children CustomResourceProviderBase gives every provider.
_HANDLER_ID: Final = "Handler"
_ROLE_ID: Final = "Role"


def provider_functions(stack: Stack) -> list[CfnResource]:
    """Every function of ``stack`` that is not a ``lambda_.Function`` (CDK's custom resource providers)."""
    return [
        node
        for node in stack.node.find_all()
        if isinstance(node, CfnResource)
        and node.cfn_resource_type == LAMBDA_FUNCTION
        and not isinstance(node.node.scope, lambda_.Function)
    ]


def scope_provider_functions(stack: Stack, *, retention_days: int, removal_policy: RemovalPolicy) -> None:
    """Give each provider function of ``stack`` its own log group and a role that writes only there.

    Raises:
        TypeError: a provider does not have the Handler and Role that CDK's provider base creates.
    """
    for handler in provider_functions(stack):
        provider = handler.node.scope
        role = provider.node.try_find_child(_ROLE_ID) if isinstance(provider, Construct) else None
        if not isinstance(provider, Construct) or handler.node.id != _HANDLER_ID or not isinstance(role, CfnResource):
            raise TypeError(f"{handler.node.path}: not a CDK custom resource provider (Handler and Role)")
        group = logs.LogGroup(provider, "Logs", retention=log_retention(retention_days), removal_policy=removal_policy)
        handler.add_property_override("LoggingConfig", {"LogGroup": group.log_group_name})
        role.add_property_deletion_override("ManagedPolicyArns")
        policy = iam.CfnPolicy(
            provider,
            "LoggingPolicy",
            policy_name="Logging",
            roles=[role.ref],
            policy_document=iam.PolicyDocument(
                statements=[iam.PolicyStatement(actions=list(LOG_WRITE_ACTIONS), resources=[group.log_group_arn])]
            ),
        )
        handler.node.add_dependency(policy)  # (the log group it already waits for: LoggingConfig refers to it)
