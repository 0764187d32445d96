"""How ``sluice plan`` shows a plan: tables for people, one JSON document for scripts, CDK context for the stack."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import TYPE_CHECKING, Any

from rich.text import Text

from sluice_cli.plan.assumptions import ASSUMPTIONS

if TYPE_CHECKING:
    from rich.console import Console

    from sluice_cli.plan.model import Plan, Setting

__all__ = ["cdk_context_json", "plan_document", "plan_json", "print_plan"]


def _value(setting: Setting) -> str:
    value = setting.value
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}" if isinstance(value, float) else value
    return f"{text} {setting.unit}".strip()


def _print_settings(console: Console, title: str, settings: tuple[Setting, ...]) -> None:
    """``title``, then each setting on one line and its reason, indented, on the next."""
    console.print(title, style="bold", markup=False)
    width = max(len(setting.name) for setting in settings)
    for setting in settings:
        console.print(f"  {setting.name:<{width}}  {_value(setting)}", markup=False)
        console.print(f"  {'':<{width}}  {setting.reason}", style="dim", markup=False)


def _headline(plan: Plan) -> str:
    workload, sizes = plan.workload, plan.sizes
    queue = f"FIFO queue, {workload.groups:,} groups" if workload.fifo and workload.groups else "standard queue"
    return (
        f"Sluice plan: {workload.rate_per_s:,g} events/s steady, {workload.peak_rate_per_s:,g} at peak, "
        f"{sizes.payload:,}-byte payloads ({sizes.body:,}-byte SQS bodies), enqueue -> committed row within "
        f"{workload.max_latency_s:g} s, {queue}, {workload.region}, stage {workload.stage}"
    )


def print_plan(plan: Plan, console: Console) -> None:
    """The plan as tables: consumer, database, assumed throughput, monthly cost, warnings."""
    consumer, database, throughput = plan.consumer, plan.database, plan.throughput
    console.print(_headline(plan), markup=False)
    console.print()
    _print_settings(console, "Consumer (SQS event source and function)", consumer.settings)
    console.print(
        f"  expected: batches of {consumer.batch_at_steady:,.0f} at the steady rate, {consumer.batch_at_peak:,.0f} "
        f"at peak; worst latency {consumer.latency_s:,.1f} s when nothing fails",
        markup=False,
    )
    console.print()
    _print_settings(console, "Database (RDS for PostgreSQL behind RDS Proxy)", database.settings)
    console.print()
    console.print("Throughput assumed (Sluice's own measurement on one machine, not an AWS figure)", style="bold")
    console.print(
        f"  one consumer environment: {throughput.environment_events_per_s:,.0f} events/s (a batch of "
        f"{consumer.batch_size:,} in {throughput.batch_seconds * 1000:,.0f} ms at {consumer.memory_mib:,} MB, "
        f"{throughput.event_seconds * 1e6:,.0f} us per event)\n"
        f"  database: {throughput.database_rows_per_vcpu_s:,.0f} rows/s per vCPU through the consumer's write path\n"
        f"  from {throughput.origin}, measured {throughput.measured_at} on {throughput.machine}: handler "
        f"{throughput.handler_events_per_s:,.0f} events/s with {throughput.measured_payload_bytes}-byte payloads, "
        f"x{throughput.work_factor:.2f} work per event at {plan.sizes.payload:,} bytes",
        markup=False,
    )
    console.print()
    _print_costs(plan, console)
    if plan.warnings:
        console.print()
        console.print("Warnings", style="bold yellow")
        for warning in plan.warnings:
            console.print(f"  ! {warning}", markup=False, style="yellow")
    console.print()
    console.print(
        "`--json` prints all of this as one document; `--cdk-context` the values that deploy it.", style="dim"
    )


def _print_costs(plan: Plan, console: Console) -> None:
    prices = plan.prices
    console.print(
        f"Monthly cost estimate ({prices.currency}, {prices.region} list prices as of {prices.as_of})",
        style="bold",
        markup=False,
    )
    service_width = max(len(line.service) for line in plan.costs)
    item_width = max(len(line.item) for line in plan.costs)
    for line in plan.costs:
        amount = f"  {line.service:<{service_width}}  {line.item:<{item_width}}  {line.usd_per_month:>10,.2f}  "
        console.print(Text.assemble(amount, (line.basis, "dim")))
    total = f"{plan.total_usd_per_month:>10,.2f}"
    console.print(f"  {'total':<{service_width + item_width + 2}}  {total}", style="bold", markup=False)
    console.print(f"  prices: {prices.source}", markup=False, style="dim")


def _plain(value: Any) -> Any:
    """``value`` as JSON: enums as their value, floats to 6 significant digits, tuples as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def plan_document(plan: Plan) -> dict[str, Any]:
    """Everything the tables show (and the assumptions behind them) as one JSON-ready object."""
    prices = plan.prices
    document: dict[str, Any] = _plain(
        {
            "workload": dataclasses.asdict(plan.workload),
            "event_sizes": dataclasses.asdict(plan.sizes),
            "consumer": dataclasses.asdict(plan.consumer),
            "database": dataclasses.asdict(plan.database),
            "throughput": dataclasses.asdict(plan.throughput),
            "costs": {
                "currency": prices.currency,
                "region": prices.region,
                "prices_as_of": prices.as_of,
                "prices_source": prices.source,
                "lines": [dataclasses.asdict(line) for line in plan.costs],
                "total_usd_per_month": plan.total_usd_per_month,
            },
            "warnings": list(plan.warnings),
            "assumptions": [dataclasses.asdict(assumption) for assumption in ASSUMPTIONS],
            "cdk_context": plan.context.to_context(),
        }
    )
    return document


def plan_json(plan: Plan) -> str:
    """:func:`plan_document` as indented JSON text."""
    return json.dumps(plan_document(plan), indent=2)


def cdk_context_json(plan: Plan) -> str:
    """The CDK context that deploys ``plan`` (save it as ``cdk/cdk.context.json``)."""
    return json.dumps(plan.context.to_context(), indent=2)
