"""Deploy-time migrations: the consumer's own migration entry point, run in the VPC by a CDK trigger.

The trigger invokes ``sluice_consumer.migrate.lambda_handler`` (the function the tests and ``sluice db migrate``
use) once the database, the proxy and the network exist, again whenever the function's code or configuration
changes, and fails the deployment when it fails. The stack makes the consumer's event source depend on it, so
no message is consumed before the schema is in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import Duration, triggers
from constructs import Construct

from sluice_cdk.lambdas import MIGRATIONS_HANDLER, python_function

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_cdk import aws_lambda as lambda_

    from sluice_cdk.lambdas import FunctionOptions, VpcPlacement

__all__ = ["MIGRATIONS_MEMORY_MIB", "Migrations"]

MIGRATIONS_MEMORY_MIB: Final = 256


class Migrations(Construct):
    """``function`` (consumer code, migration handler, own security group) and the ``trigger`` that runs it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        options: FunctionOptions,
        placement: VpcPlacement,
        environment: Mapping[str, str],
        timeout_seconds: int,
        run_after: Sequence[Construct],
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = placement.security_group(
            self, "SecurityGroup", description="Sluice migrations: HTTPS to AWS APIs, 5432 to RDS Proxy"
        )
        self.function = python_function(
            self,
            "Function",
            code=code,
            handler=MIGRATIONS_HANDLER,
            description="Sluice migrations: applies the consumer's SQL migrations at deploy time",
            memory_mib=MIGRATIONS_MEMORY_MIB,
            timeout=Duration.seconds(timeout_seconds),
            options=options,
            environment=environment,
            placement=placement,
            security_group=self.security_group,
        )
        self.trigger = triggers.Trigger(
            self,
            "Run",
            handler=self.function,
            timeout=Duration.seconds(timeout_seconds),
            execute_on_handler_change=True,
            execute_after=[*run_after, self.security_group],
        )
