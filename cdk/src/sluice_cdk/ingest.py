"""The ingest function: outside the VPC (it only talks to SQS), behind a Function URL with IAM auth."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from sluice_cdk.lambdas import INGEST_HANDLER, python_function

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sluice_cdk.lambdas import FunctionOptions

__all__ = ["IngestFunction"]


class IngestFunction(Construct):
    """``function`` and its ``url``; callers sign requests with SigV4 and need ``lambda:InvokeFunctionUrl``."""

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
