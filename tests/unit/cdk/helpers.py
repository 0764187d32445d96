"""CDK test helpers: the real ``cdk.json`` context and inline code instead of a build."""

from __future__ import annotations

import os

# jsii prints a banner on every start under Node 20; quiet in tests (set before aws_cdk starts node).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from pathlib import Path
from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from sluice_cdk.app import ALARM_DESTINATION_CONTEXT_KEY, load_cdk_context
from sluice_cdk.config import Architecture
from sluice_cdk.lambdas import LambdaCode
from sluice_cdk.migrations import MIGRATIONS_PACKAGE_DIR, migrations_digest

ROOT: Final = Path(__file__).parents[3]
CDK_CONTEXT: Final = load_cdk_context(ROOT / "cdk" / "cdk.json")
ALARM_EMAIL: Final = "oncall@example.com"
# The app as a deployment runs it: prod refuses to synthesize without somewhere for its alarms to go.
APP_CONTEXT: Final = {**CDK_CONTEXT, ALARM_DESTINATION_CONTEXT_KEY: ALARM_EMAIL}
MIGRATIONS_SOURCE: Final = ROOT / "services" / "consumer" / "src" / MIGRATIONS_PACKAGE_DIR
HANDLER_SOURCE: Final = "def lambda_handler(event, context):\n    return {}\n"


def inline_code(architecture: Architecture = Architecture.ARM64) -> LambdaCode:
    """Code for both functions that needs no build (the migrations digest is the source tree's)."""
    return LambdaCode(
        consumer=lambda_.Code.from_inline(HANDLER_SOURCE),
        ingest=lambda_.Code.from_inline(HANDLER_SOURCE),
        architecture=architecture,
        migrations_digest=migrations_digest(MIGRATIONS_SOURCE),
    )


def empty_stack() -> cdk.Stack:
    """An empty stack in an app carrying the project's feature flags."""
    return cdk.Stack(cdk.App(context=CDK_CONTEXT), "Test")


def resolve(stack: cdk.Stack, value: Any) -> Any:
    """``value`` as it appears in the template (tokens resolved to intrinsics)."""
    return stack.resolve(value)


def logical_id(stack: cdk.Stack, construct: Any) -> str:
    """The logical id of ``construct``'s CloudFormation resource."""
    return str(stack.get_logical_id(construct.node.default_child))
