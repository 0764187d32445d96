"""cfn-lint on the synthesized dev and prod templates (the same check CI runs through the test suite)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest
from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]  # cfn-lint ships no py.typed marker

from sluice_cdk.app import stack_name

if TYPE_CHECKING:
    from aws_cdk import cx_api

# W3005 (DependsOn already enforced by a GetAtt) is CDK's own output, not something our code chooses.
IGNORED: Final = ["W3005"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_template_is_cfn_lint_clean(stage: str, assembly: cx_api.CloudAssembly) -> None:
    template = Path(assembly.directory) / assembly.get_stack_by_name(stack_name(stage)).template_file

    matches = lint_file(template, config=ManualArgs(ignore_checks=IGNORED, regions=["us-east-1", "eu-west-1"]))

    assert [f"{match.rule.id} {match.message} ({match.path_string})" for match in matches] == []
