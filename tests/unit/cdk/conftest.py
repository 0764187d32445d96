"""Shared synthesized stacks: the whole app once per session, with cdk-nag registered as ``make synth`` has it.

Synthesis is slow the first time in a process (jsii starts node), so every whole-stack test reads this one
assembly instead of synthesizing again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from aws_cdk.assertions import Template

from sluice_cdk.app import create_app, stack_name
from tests.unit.cdk.helpers import APP_CONTEXT, inline_code

if TYPE_CHECKING:
    from aws_cdk import cx_api


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> cx_api.CloudAssembly:
    """Every stage synthesized once, cdk-nag included: synthesis fails on any unacknowledged finding."""
    app = create_app(context=APP_CONTEXT, code=inline_code, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return app.synth()


@pytest.fixture(scope="session")
def dev_template(assembly: cx_api.CloudAssembly) -> Template:
    return Template.from_json(assembly.get_stack_by_name(stack_name("dev")).template)


@pytest.fixture(scope="session")
def prod_template(assembly: cx_api.CloudAssembly) -> Template:
    return Template.from_json(assembly.get_stack_by_name(stack_name("prod")).template)


@pytest.fixture(params=["dev", "prod"])
def staged(request: pytest.FixtureRequest) -> tuple[str, Template]:
    """Each stage's name and template in turn (the test runs once per stage)."""
    stage = str(request.param)
    template: Template = request.getfixturevalue(f"{stage}_template")
    return stage, template
