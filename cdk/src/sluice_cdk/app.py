"""The CDK app: one stack per stage, checked by cdk-nag's AWS Solutions pack on every synth.

``cdk/app.py`` calls :func:`main`. Plain ``python app.py`` (``make synth``) and the ``cdk`` CLI behave the same:
the ``cdk.json`` context (feature flags) and ``cdk.context.json`` (where ``sluice plan --cdk-context`` output
may be saved) are passed to ``App`` here, because only the CLI reads those files. The CLI's own context
(``-c sluice:arch=x86_64``, passed through ``CDK_CONTEXT_JSON``) overrides them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks

from sluice_cdk.build import ensure_built
from sluice_cdk.config import STAGES, AlarmDestination, Architecture, stage_config
from sluice_cdk.lambdas import LambdaCode
from sluice_cdk.migrations import MIGRATIONS_PACKAGE_DIR, migrations_digest
from sluice_cdk.nag import acknowledge_stack_findings
from sluice_cdk.plan import apply_plan
from sluice_cdk.settings import CdkSettings
from sluice_cdk.stack import SluiceStack
from sluice_shared.errors import ConfigurationError, SluiceError
from sluice_shared.plan_context import PLAN_CONTEXT_KEY, PlanContext

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from aws_cdk import cx_api

__all__ = [
    "ALARM_DESTINATION_CONTEXT_KEY",
    "APP_MIGRATIONS_CONTEXT_KEY",
    "ARCH_CONTEXT_KEY",
    "PAYLOAD_REGISTRY_CONTEXT_KEY",
    "built_code",
    "create_app",
    "load_cdk_context",
    "load_context_file",
    "main",
    "stack_name",
    "written_templates",
]

ARCH_CONTEXT_KEY: Final = "sluice:arch"
STAGES_CONTEXT_KEY: Final = "sluice:stages"  # comma-separated subset of the stages to synthesize
# 'package.module:attribute' of the payload registry the functions load (default: none, no payload models).
PAYLOAD_REGISTRY_CONTEXT_KEY: Final = "sluice:payload-registry"
# 'package.module:folder' of the application's own migrations (default: none).
APP_MIGRATIONS_CONTEXT_KEY: Final = "sluice:app-migrations"
# Where every synthesized stage's alarms go: comma-separated emails, an SNS topic ARN, or "none" (on purpose).
ALARM_DESTINATION_CONTEXT_KEY: Final = "sluice:alarm-destination"


def stack_name(stage: str) -> str:
    """The CloudFormation stack name of ``stage`` (``Sluice-dev``)."""
    return f"Sluice-{stage}"


def load_cdk_context(cdk_json: Path) -> dict[str, Any]:
    """The ``context`` object of ``cdk.json``.

    Raises:
        ConfigurationError: the file is missing or not the JSON object CDK expects.
    """
    context = load_context_file(cdk_json).get("context")
    if not isinstance(context, dict):
        raise ConfigurationError(f"{cdk_json} has no 'context' object")
    return context


def load_context_file(path: Path) -> dict[str, Any]:
    """A JSON object file such as ``cdk.context.json`` (context values) or ``cdk.json``.

    Raises:
        ConfigurationError: the file cannot be read or is not a JSON object.
    """
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read CDK context from {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path} is not a JSON object")
    return document


def built_code(arch: Architecture, *, root: Path | None = None) -> Callable[[], LambdaCode]:
    """A factory of the functions' code from ``build/<arch>/``, (re)built first where missing or stale.

    A factory because CDK binds an asset to one stack: each stack gets its own ``Code`` of the same directory.

    Raises:
        BuildError: the build fails.
    """
    results = ensure_built(arch, root=root)
    for result in results.values():
        if not result.reused:  # say so: a synth that also built is slower than usual
            print(f"sluice-cdk: built {result.name} ({arch.value}) in {result.seconds:.1f} s", file=sys.stderr)  # noqa: T201

    # The migrations the consumer's asset ships: what the migrations function will apply.
    digest = migrations_digest(results["consumer"].path / MIGRATIONS_PACKAGE_DIR)

    def code() -> LambdaCode:
        return LambdaCode(
            consumer=lambda_.Code.from_asset(str(results["consumer"].path)),
            ingest=lambda_.Code.from_asset(str(results["ingest"].path)),
            architecture=arch,
            migrations_digest=digest,
        )

    return code


def create_app(
    *, context: Mapping[str, Any], code: Callable[[], LambdaCode] | None = None, outdir: str | None = None
) -> cdk.App:
    """An app with a stack per stage (or the ``sluice:stages`` subset) and cdk-nag registered.

    A ``sluice:plan`` context value (``sluice plan --cdk-context``) replaces its stage's sizing. ``code`` makes
    each stack's code; it defaults to :func:`built_code` for the ``sluice:arch`` context value
    (arm64 by default).

    Raises:
        ConfigurationError: an unknown stage or architecture, a stage breaking a configuration rule, or a plan
            that is malformed, for an unknown stage or inconsistent with its budget.
        BuildError: building the assets fails.
    """
    app = cdk.App(context=dict(context), outdir=outdir)
    arch_value = app.node.try_get_context(ARCH_CONTEXT_KEY) or Architecture.ARM64.value
    try:
        arch = Architecture(arch_value)
    except ValueError:
        raise ConfigurationError(
            f"{ARCH_CONTEXT_KEY}={arch_value!r}: expected one of {', '.join(a.value for a in Architecture)}"
        ) from None
    wanted = app.node.try_get_context(STAGES_CONTEXT_KEY)
    stages: Sequence[str] = [s.strip() for s in str(wanted).split(",") if s.strip()] if wanted else list(STAGES)
    registry = app.node.try_get_context(PAYLOAD_REGISTRY_CONTEXT_KEY)
    app_migrations = app.node.try_get_context(APP_MIGRATIONS_CONTEXT_KEY)
    destination_text = app.node.try_get_context(ALARM_DESTINATION_CONTEXT_KEY)
    destination = AlarmDestination.parse(str(destination_text)) if destination_text else None
    plan = PlanContext.from_context_value(app.node.try_get_context(PLAN_CONTEXT_KEY))
    if plan is not None and plan.stage not in STAGES:  # refused, not ignored
        known = ", ".join(sorted(STAGES))
        raise ConfigurationError(f"{PLAN_CONTEXT_KEY} is for unknown stage {plan.stage!r}: expected one of {known}")
    # Every stage validated before anything is built.
    configs = [
        apply_plan(
            replace(
                stage_config(stage, alarm_destination=destination),
                payload_registry=str(registry) if registry else None,
                app_migrations=str(app_migrations) if app_migrations else None,
            ).validate(),
            plan,
        )
        for stage in stages
    ]
    make_code = code or built_code(arch)
    for config in configs:
        stack = SluiceStack(app, stack_name(config.name), config=config, code=make_code())
        acknowledge_stack_findings(stack)
        if config.alarm_destination.nowhere:  # said on purpose, still worth a line on every synth
            notice = f"{stack_name(config.name)}: alarms notify no one ({ALARM_DESTINATION_CONTEXT_KEY}=none)"
            print(f"sluice-cdk: {notice}", file=sys.stderr)  # noqa: T201 - the app's command-line notice
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main(cdk_json: Path, *, code: Callable[[], LambdaCode] | None = None) -> int:
    """Synthesize the app described by ``cdk_json`` into ``cdk.out``, say where each template went on stderr.

    ``code`` replaces the built assets (tests). One line on stderr and exit 2 on failure.
    """
    # Under the CLI, CDK_OUTDIR names the assembly it reads; a plain run (`make synth`) writes cdk/cdk.out
    # instead of App's default, a temporary directory.
    outdir = None if CdkSettings().cdk_outdir else str(cdk_json.parent / "cdk.out")
    try:
        context = load_cdk_context(cdk_json)
        saved = cdk_json.with_name("cdk.context.json")  # as the CDK CLI does; absent unless someone saved a plan
        if saved.exists():
            context |= load_context_file(saved)
        app = create_app(context=context, code=code, outdir=outdir)
        assembly = app.synth()
    except SluiceError as exc:
        print(f"sluice-cdk: {exc}", file=sys.stderr)  # noqa: T201 - the app's command-line error
        return 2
    for line in written_templates(assembly):
        print(line, file=sys.stderr)  # noqa: T201 - what the app did, on stderr as the cdk CLI expects
    return 0


def written_templates(assembly: cx_api.CloudAssembly) -> list[str]:
    """Where the synthesis wrote each stack's template (absolute paths) and the assembly to deploy from."""
    stacks = sorted(assembly.stacks, key=lambda stack: stack.stack_name)
    lines = [f"sluice-cdk: templates written to {Path(assembly.directory).resolve()}"]
    lines += [f"  {stack.stack_name}: {Path(stack.template_full_path).resolve()}" for stack in stacks]
    return lines
