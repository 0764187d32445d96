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

from sluice_cdk.app import load_cdk_context
from sluice_cdk.config import Architecture
from sluice_cdk.lambdas import LambdaCode

ROOT: Final = Path(__file__).parents[3]
CDK_CONTEXT: Final = load_cdk_context(ROOT / "cdk" / "cdk.json")
HANDLER_SOURCE: Final = "def lambda_handler(event, context):\n    return {}\n"


def inline_code(architecture: Architecture = Architecture.ARM64) -> LambdaCode:
    """Code for both functions that needs no build."""
    return LambdaCode(
        consumer=lambda_.Code.from_inline(HANDLER_SOURCE),
        ingest=lambda_.Code.from_inline(HANDLER_SOURCE),
        architecture=architecture,
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
