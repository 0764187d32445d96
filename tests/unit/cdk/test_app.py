"""The app entry point: context handling, stage selection and one-line errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from sluice_cdk.app import create_app, load_cdk_context, main
from sluice_cdk.config import Architecture
from sluice_shared.environment import APP_MIGRATIONS, MAX_RECEIVE_COUNT, PAYLOAD_REGISTRY
from sluice_shared.errors import ConfigurationError
from tests.unit.cdk.helpers import CDK_CONTEXT, inline_code

if TYPE_CHECKING:
    from pathlib import Path

    from aws_cdk import cx_api


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


def _function_environments(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        logical_id: resource["Properties"].get("Environment", {}).get("Variables", {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and ("Consumer" in logical_id or "Ingest" in logical_id)
    }


def test_functions_get_no_payload_registry_unless_the_context_names_one(
    assembly: cx_api.CloudAssembly, tmp_path: Path
) -> None:
    # given the default app: no registry configured
    default = _function_environments(assembly.get_stack_by_name("Sluice-dev").template)
    assert default, "the consumer and ingest functions were not found"
    assert all(PAYLOAD_REGISTRY not in variables for variables in default.values())

    # when the context names one, then both functions carry it
    app = create_app(
        context={**CDK_CONTEXT, "sluice:stages": "dev", "sluice:payload-registry": "my_events.models:registry"},
        code=inline_code,
        outdir=str(tmp_path),
    )
    configured = _function_environments(app.synth().get_stack_by_name("Sluice-dev").template)
    assert {name: variables.get(PAYLOAD_REGISTRY) for name, variables in configured.items()} == dict.fromkeys(
        configured, "my_events.models:registry"
    )


def test_malformed_payload_registry_context_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"must look like 'package\.module:attribute'"):
        create_app(context={**CDK_CONTEXT, "sluice:payload-registry": "not a spec"}, code=inline_code)


def test_alarm_destination_that_is_neither_emails_a_topic_nor_none_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"alarm destination 'pager': expected email addresses"):
        create_app(context={**CDK_CONTEXT, "sluice:alarm-destination": "pager"}, code=inline_code)


def test_synth_says_where_it_wrote_each_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: the project's cdk.json context, one stage, in a directory of its own
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {**CDK_CONTEXT, "sluice:stages": "dev"}}))

    assert main(cdk_json, code=inline_code) == 0

    template = tmp_path / "cdk.out" / "Sluice-dev.template.json"
    assert template.is_file()
    assert capsys.readouterr().err.splitlines() == [
        f"sluice-cdk: templates written to {tmp_path / 'cdk.out'}",
        f"  Sluice-dev: {template}",
    ]


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == kind}


def test_the_applications_migrations_and_registry_reach_the_migrations_function_and_rerun_it(
    assembly: cx_api.CloudAssembly, tmp_path: Path
) -> None:
    # given the default app, and one with the sample catalog's registry and its own migrations
    default = assembly.get_stack_by_name("Sluice-dev").template
    app = create_app(
        context={
            **CDK_CONTEXT,
            "sluice:stages": "dev",
            "sluice:payload-registry": "sluice_shared.catalog:default_registry",
            "sluice:app-migrations": "sluice_shared.catalog:migrations",
        },
        code=inline_code,
        outdir=str(tmp_path),
    )
    configured = app.synth().get_stack_by_name("Sluice-dev").template

    # then the migrations function knows both, and the trigger's digest changed, so the deploy migrates again
    [migrations] = [
        resource["Properties"]["Environment"]["Variables"]
        for name, resource in _resources(configured, "AWS::Lambda::Function").items()
        if name.startswith("MigrationsFunction")
    ]
    assert migrations[APP_MIGRATIONS] == "sluice_shared.catalog:migrations"
    assert migrations[PAYLOAD_REGISTRY] == "sluice_shared.catalog:default_registry"

    def digest(template: dict[str, Any]) -> str:
        [trigger] = [
            resource["Properties"]["MigrationsDigest"]
            for resource in template["Resources"].values()
            if "MigrationsDigest" in resource.get("Properties", {})
        ]
        return str(trigger)

    assert digest(configured) != digest(default)


def test_the_consumer_retries_a_waiting_sink_row_until_the_queues_last_receive(
    assembly: cx_api.CloudAssembly,
) -> None:
    template = assembly.get_stack_by_name("Sluice-dev").template
    [consumer] = [
        resource["Properties"]["Environment"]["Variables"]
        for name, resource in _resources(template, "AWS::Lambda::Function").items()
        if name.startswith("ConsumerFunction")
    ]
    [redrive] = [
        resource["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        for resource in _resources(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in resource["Properties"]
    ]

    assert consumer[MAX_RECEIVE_COUNT] == str(redrive)


def test_missing_application_migrations_are_refused_at_synth(tmp_path: Path) -> None:
    context = {**CDK_CONTEXT, "sluice:stages": "dev", "sluice:app-migrations": str(tmp_path / "nowhere")}

    with pytest.raises(ConfigurationError, match="no such folder"):
        create_app(context=context, code=inline_code, outdir=str(tmp_path))
