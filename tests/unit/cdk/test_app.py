"""The app entry point: context handling, stage selection and one-line errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sluice_cdk.app import create_app, load_cdk_context, main
from sluice_cdk.config import Architecture
from sluice_shared.errors import ConfigurationError
from tests.unit.cdk.helpers import CDK_CONTEXT, inline_code

if TYPE_CHECKING:
    from pathlib import Path


def test_cdk_json_context_carries_the_feature_flags_and_the_default_architecture() -> None:
    assert CDK_CONTEXT["sluice:arch"] == "arm64"
    assert CDK_CONTEXT["@aws-cdk/core:validateAgainstDefaultRules"] is True


def test_stage_subset_is_synthesized_alone(tmp_path: Path) -> None:
    app = create_app(context={**CDK_CONTEXT, "sluice:stages": "dev"}, code=inline_code, outdir=str(tmp_path))

    assert [child.node.id for child in app.node.children if child.node.id.startswith("Sluice-")] == ["Sluice-dev"]


def test_unknown_architecture_is_refused_before_anything_is_built() -> None:
    def never_called() -> None:
        raise AssertionError("code must not be made for an invalid app")

    with pytest.raises(ConfigurationError, match=r"sluice:arch='sparc': expected one of arm64, x86_64"):
        create_app(context={**CDK_CONTEXT, "sluice:arch": "sparc"}, code=never_called)  # type: ignore[arg-type]


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown stage 'qa'"):
        create_app(context={**CDK_CONTEXT, "sluice:stages": "dev,qa"}, code=lambda: inline_code(Architecture.X86_64))


def test_unreadable_cdk_json_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cdk.json").write_text('{"app": "python app.py"}')

    assert main(tmp_path / "cdk.json") == 2
    assert capsys.readouterr().err == f"sluice-cdk: {tmp_path / 'cdk.json'} has no 'context' object\n"


def test_missing_cdk_json_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read CDK context from"):
        load_cdk_context(tmp_path / "absent.json")
