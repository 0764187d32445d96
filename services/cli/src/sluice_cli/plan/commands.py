"""``sluice plan``: size and price a deployment from its workload, offline, before it exists.

Thin: it parses options, reads the two input files (:mod:`sluice_cli.plan.files`), calls
:func:`~sluice_cli.plan.arithmetic.make_plan` and prints. No network, no AWS call, no boto3.

The planning modules are imported when the command runs, not when this module is: the ``sluice`` app imports
every command at startup, and their pydantic models would make every other command start slower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sluice_cli.console import out
from sluice_cli.plan.choices import Architecture, Network
from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError

__all__ = ["plan"]

_PINS = "Pin a setting"


def plan(  # noqa: PLR0917 - Typer maps each parameter to an option
    rate: Annotated[float, typer.Option("--rate", help="Steady rate, events/s.")],
    payload_bytes: Annotated[int, typer.Option("--payload-bytes", help="Average payload size (JSON), bytes.")],
    peak_rate: Annotated[
        float | None, typer.Option("--peak-rate", help="Peak rate, events/s (default: the steady rate).")
    ] = None,
    max_latency: Annotated[
        float, typer.Option("--max-latency", help="Seconds from enqueue to committed row, at most.")
    ] = 30.0,
    fifo: Annotated[bool, typer.Option("--fifo", help="A FIFO queue (ordered per message group).")] = False,
    groups: Annotated[int | None, typer.Option("--groups", help="FIFO: distinct message group ids in flight.")] = None,
    region: Annotated[str, typer.Option("--region", help="AWS region whose prices to use.")] = "us-east-1",
    architecture: Annotated[
        Architecture, typer.Option("--architecture", help="Lambda architecture (make build ARCH=...).")
    ] = Architecture.ARM64,
    stage: Annotated[str, typer.Option("--stage", help="The stack stage the CDK context applies to.")] = "prod",
    multi_az: Annotated[
        bool, typer.Option("--multi-az/--single-az", help="RDS Multi-AZ (a standby in a second AZ).")
    ] = True,
    network: Annotated[
        Network, typer.Option("--network", help="Interface endpoints or NAT gateways for AWS APIs.")
    ] = Network.ENDPOINTS,
    nat_gateways: Annotated[int, typer.Option("--nat-gateways", help="NAT gateways (--network nat).")] = 2,
    log_retention_days: Annotated[
        int, typer.Option("--log-retention-days", help="CloudWatch Logs retention, days.")
    ] = 30,
    tracing: Annotated[
        bool, typer.Option("--tracing/--no-tracing", help="X-Ray active tracing on the functions (prod has it).")
    ] = True,
    months: Annotated[int, typer.Option("--months", help="Price storage as it stands after this many months.")] = 1,
    ingest_batch: Annotated[
        int,
        typer.Option("--ingest-batch", help="Events per request through the ingest function (0: straight to SQS)."),
    ] = 0,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Event source batch size.", rich_help_panel=_PINS)
    ] = None,
    batching_window: Annotated[
        int | None, typer.Option("--batching-window", help="Batching window, s.", rich_help_panel=_PINS)
    ] = None,
    memory: Annotated[int | None, typer.Option("--memory", help="Consumer memory, MB.", rich_help_panel=_PINS)] = None,
    instance: Annotated[
        str | None, typer.Option("--instance", help="RDS instance class (m7g.large).", rich_help_panel=_PINS)
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            "--prices", envvar=env.PLAN_PRICES, show_envvar=True, help="Price table laid over the shipped one."
        ),
    ] = None,
    bench_results: Annotated[
        Path | None,
        typer.Option(
            "--bench-results",
            envvar=env.PLAN_BENCH_RESULTS,
            show_envvar=True,
            help="A `make bench` write-path result (build/bench/write_path.json) instead of the shipped one.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON document.")] = False,
    cdk_context: Annotated[
        bool, typer.Option("--cdk-context", help="Print the CDK context that deploys the plan.")
    ] = False,
) -> None:
    """Size and price a deployment for a workload: consumer settings, database, throughput, monthly cost."""
    from sluice_cli.plan.arithmetic import make_plan  # noqa: PLC0415 - see the module docstring
    from sluice_cli.plan.files import load_measurement, load_prices  # noqa: PLC0415
    from sluice_cli.plan.model import Workload  # noqa: PLC0415
    from sluice_cli.plan.render import cdk_context_json, plan_json, print_plan  # noqa: PLC0415

    if as_json and cdk_context:
        raise ConfigurationError("--json and --cdk-context are exclusive: choose one")
    workload = Workload(
        rate_per_s=rate,
        peak_rate_per_s=rate if peak_rate is None else peak_rate,
        payload_bytes=payload_bytes,
        max_latency_s=max_latency,
        fifo=fifo,
        groups=groups,
        region=region,
        architecture=architecture,
        stage=stage,
        multi_az=multi_az,
        network=network,
        nat_gateways=nat_gateways,
        log_retention_days=log_retention_days,
        tracing=tracing,
        storage_months=months,
        ingest_events_per_request=ingest_batch,
        batch_size=batch_size,
        batching_window_s=batching_window,
        memory_mib=memory,
        instance_type=instance,
    ).validate()
    result = make_plan(workload, measured=load_measurement(bench_results), prices=load_prices(region, override=prices))
    if as_json:
        out.print(plan_json(result), markup=False, emoji=False)
    elif cdk_context:
        out.print(cdk_context_json(result), markup=False, emoji=False)
    else:
        print_plan(result, out)
