"""The ingest function: outside the VPC (it only talks to SQS), behind a Function URL with IAM auth.

A producer signs its requests with SigV4 and needs two permissions on the function: ``lambda:InvokeFunctionUrl``
and, since October 2025 for new function URLs, ``lambda:InvokeFunction`` too (AWS Lambda developer guide,
"Control access to Lambda function URLs"); with only the first it gets 403. ``producer_policy`` (a customer
managed policy to attach to the producers' roles, users or groups) and :meth:`IngestFunction.grant_producer`
grant both, each limited to calls through an IAM-authenticated function URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from sluice_cdk.lambdas import INGEST_HANDLER, python_function

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sluice_cdk.lambdas import FunctionOptions

__all__ = ["PRODUCER_ACTIONS", "IngestFunction"]

# Both are needed to call an AWS_IAM function URL; each condition keeps the grant to URL calls.
PRODUCER_ACTIONS: Final = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")


class IngestFunction(Construct):
    """``function``, its ``url`` and ``producer_policy``; :meth:`grant_producer` lets one more identity call it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        options: FunctionOptions,
        memory_mib: int,
        timeout_seconds: int,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            code=code,
            handler=INGEST_HANDLER,
            description="Sluice ingest: validates events and enqueues them to SQS",
            memory_mib=memory_mib,
            timeout=Duration.seconds(timeout_seconds),
            options=options,
            environment=environment,
        )
        self.url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        url_auth, via_url = PRODUCER_ACTIONS
        self.producer_policy = iam.ManagedPolicy(
            self,
            "ProducerPolicy",
            description="Sluice producers: POST events to the ingest function URL (SigV4)",
            statements=[
                iam.PolicyStatement(
                    actions=[url_auth],
                    resources=[self.function.function_arn],
                    conditions={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
                ),
                iam.PolicyStatement(
                    actions=[via_url],
                    resources=[self.function.function_arn],
                    conditions={"Bool": {"lambda:InvokedViaFunctionUrl": True}},
                ),
            ],
        )

    def grant_producer(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` POST to the function URL: both actions of :data:`PRODUCER_ACTIONS`, URL calls only."""
        return self.function.grant_invoke_url(grantee)
