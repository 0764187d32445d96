"""What goes into each Lambda asset: the functions and their packages, what is pruned from them, the platforms.

Read by the builder (:mod:`sluice_cdk.build`) and by the tests that check the built assets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from sluice_cdk.config import Architecture
from sluice_shared.errors import PermanentError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "FUNCTIONS",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_UNZIPPED_LIMIT_BYTES",
    "PLATFORMS",
    "POWERTOOLS_UNUSED",
    "RUNTIME_PROVIDED",
    "BuildError",
    "FunctionSpec",
    "Prune",
]

# uv's manylinux_2_28 targets accept manylinux_2_28 and every older manylinux tag (manylinux2014 included):
# psycopg-binary 3.3 ships only manylinux_2_28 wheels for aarch64, pydantic-core ships manylinux2014 ones.
# Lambda's python3.13 runtime runs on Amazon Linux 2023 (glibc 2.34), so both load.
PLATFORMS: Final[dict[Architecture, str]] = {
    Architecture.ARM64: "aarch64-manylinux_2_28",
    Architecture.X86_64: "x86_64-manylinux_2_28",
}
# The Lambda Python runtime ships boto3 and its dependency closure; shipping our own copies would shadow them.
RUNTIME_PROVIDED: Final[dict[str, str]] = {  # distribution -> top-level module
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "jmespath": "jmespath",
    "python-dateutil": "dateutil",
    "six": "six",
    "urllib3": "urllib3",
}
# Lambda: 250 MB for the unzipped deployment package, layers included (Lambda quotas).
LAMBDA_UNZIPPED_LIMIT_BYTES: Final = 262_144_000
# Where Lambda unpacks the function's code (LAMBDA_TASK_ROOT).
LAMBDA_TASK_ROOT: Final = "/var/task"


class BuildError(PermanentError):
    """A Lambda asset could not be built, or the result breaks a packaging rule."""

    code = "build"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prune:
    """A module tree of a dependency that the function never imports, removed from its asset.

    ``dead_imports`` names each module of the asset that does import it, with why that import never runs in the
    function. The build fails on any other import of it (:func:`check_pruned_imports`), so a dependency upgrade
    that starts to need the module stops the build instead of shipping a function that fails on import.
    """

    module: str
    reason: str
    dead_imports: Mapping[str, str] = field(default_factory=dict)


_POWERTOOLS_SHARED_FUNCTIONS: Final = "aws_lambda_powertools.shared.functions"
# Powertools utilities and resolvers Sluice does not use. Sluice uses Logger, Metrics, Tracer (lazily, when tracing
# is on), the Lambda context typing, and in the ingest function APIGatewayProxyEventV2 (utilities.data_classes).
POWERTOOLS_UNUSED: Final = (
    Prune(
        module="aws_lambda_powertools.event_handler",
        reason="API Gateway/AppSync/Bedrock routers with their OpenAPI models and Swagger UI bundle: the ingest "
        "function reads its one route from APIGatewayProxyEventV2 itself",
        dead_imports={
            _POWERTOOLS_SHARED_FUNCTIONS: "only in pydantic_to_dict(), which runs for a Pydantic model given to "
            "Logger(log_event=True) (Lambda passes a handler JSON values, never models) or to shared.json_encoder "
            "(used only by the routers, idempotency and parameters, all pruned)",
        },
    ),
    Prune(module="aws_lambda_powertools.utilities.batch", reason="the consumer reports batch item failures itself"),
    Prune(
        module="aws_lambda_powertools.utilities.parser",
        reason="Pydantic event envelopes: Sluice validates with its own models (sluice_shared.contract)",
    ),
    Prune(
        module="aws_lambda_powertools.utilities.idempotency",
        reason="DynamoDB idempotency: the consumer is idempotent on event_id in PostgreSQL",
    ),
    Prune(
        module="aws_lambda_powertools.utilities.parameters",
        reason="SSM/Secrets Manager/AppConfig parameters: the consumer reads its secret with boto3",
    ),
    Prune(module="aws_lambda_powertools.utilities.feature_flags", reason="AppConfig feature flags: not used"),
    Prune(module="aws_lambda_powertools.utilities.validation", reason="JSON Schema validation: Sluice uses Pydantic"),
    Prune(module="aws_lambda_powertools.utilities.data_masking", reason="KMS data masking: not used"),
    Prune(module="aws_lambda_powertools.utilities.streaming", reason="S3 object streaming: not used"),
    Prune(module="aws_lambda_powertools.utilities.kafka", reason="Kafka event deserialisation: not used"),
    Prune(module="aws_lambda_powertools.utilities.circuit_breaker", reason="circuit breaker: not used"),
    Prune(module="aws_lambda_powertools.utilities.auth_alpha", reason="JWT authorisation (alpha): not used"),
    Prune(module="pydantic.mypy", reason="Pydantic's mypy plugin, loaded by mypy only"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSpec:
    """One Lambda function's asset: its uv workspace package, what must and must not be inside, what is pruned.

    ``packages`` are the function's own top-level packages: every module of theirs may run (handlers, migrations,
    lazily imported collaborators), so the import proof of :func:`check_pruned_imports` starts from all of them.
    """

    name: str
    package: str
    packages: tuple[str, ...]
    required: tuple[str, ...]
    forbidden: tuple[str, ...]
    prune: tuple[Prune, ...] = ()


FUNCTIONS: Final = (
    FunctionSpec(
        name="consumer",
        package="sluice-consumer",
        packages=("sluice_shared", "sluice_consumer"),
        required=("sluice_shared", "sluice_consumer", "psycopg", "psycopg_binary", "psycopg_pool", "pydantic"),
        forbidden=("sluice_ingest", "sluice_cli", "sluice_local", "sluice_cdk"),
        prune=(
            *POWERTOOLS_UNUSED,
            Prune(
                module="aws_lambda_powertools.utilities.data_classes",
                reason="typed event wrappers: the consumer reads SQS records as plain dicts (sluice_consumer.records)",
            ),
        ),
    ),
    FunctionSpec(
        name="ingest",
        package="sluice-ingest",
        packages=("sluice_shared", "sluice_ingest"),
        required=("sluice_shared", "sluice_ingest", "pydantic"),
        forbidden=(
            "sluice_consumer",
            "sluice_cli",
            "sluice_local",
            "sluice_cdk",
            "psycopg",
            "psycopg_binary",
            "psycopg_pool",
        ),
        prune=POWERTOOLS_UNUSED,
    ),
)
