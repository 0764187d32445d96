"""``sluice plan``: size and price a Sluice deployment for a workload, offline.

The planning logic is pure and typed: :mod:`~sluice_cli.plan.model` (inputs and outputs),
:mod:`~sluice_cli.plan.assumptions` (AWS limits and Sluice's modelling choices, with their sources),
:mod:`~sluice_cli.plan.throughput` (event sizes, time per batch), :mod:`~sluice_cli.plan.consumer` and
:mod:`~sluice_cli.plan.database` (the sizing steps), :mod:`~sluice_cli.plan.costs` (the monthly estimate), tied
together by :func:`sluice_cli.plan.arithmetic.make_plan`. The input files (price table, write-path measurement)
are read by :mod:`~sluice_cli.plan.files`, shown by :mod:`~sluice_cli.plan.render`, and
:mod:`~sluice_cli.plan.commands` is the Typer command. Nothing is imported here: the ``sluice`` app imports the
command at startup, and the planning modules only when a plan is made.
"""

from __future__ import annotations

__all__: list[str] = []
