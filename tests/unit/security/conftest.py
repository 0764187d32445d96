"""Security fixtures: the synthesized templates of every stage, and of dev in Secrets Manager mode, once a session."""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import aws_cdk as cdk
import pytest

from sluice_cdk.app import create_app, stack_name
from sluice_cdk.config import STAGES, DatabaseAuth
from sluice_cdk.stack import SluiceStack
from tests.unit.cdk.helpers import APP_CONTEXT, CDK_CONTEXT, inline_code

SECRET_MODE: Final = "dev (secret auth)"


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every stage as ``make synth`` builds it (cdk-nag included), and dev in Secrets Manager mode, as JSON."""
    app = create_app(context=APP_CONTEXT, code=inline_code, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    assembly = app.synth()
    found = {stage: assembly.get_stack_by_name(stack_name(stage)).template for stage in STAGES}
    dev = STAGES["dev"]
    secret_stage = dataclasses.replace(dev, database=dataclasses.replace(dev.database, auth=DatabaseAuth.SECRET))
    secret_app = cdk.App(context=dict(CDK_CONTEXT), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    SluiceStack(secret_app, "SecretMode", config=secret_stage, code=inline_code())
    found[SECRET_MODE] = secret_app.synth().get_stack_by_name("SecretMode").template
    return found
