"""A deployment plan (``sluice plan --cdk-context``) applied to the stage it was made for.

Plain Python (no CDK import). The plan replaces the stage's event source (batch size, window, FIFO), consumer
(timeout, memory, concurrency cap), database (class, pinned ``max_connections``, proxy share, reserve,
Multi-AZ, storage), network, log retention and tracing; everything else (names, backups, deletion protection,
rotation, alarms) stays the stage's. The event source's maximum concurrency is still derived from the proxy
budget, as for any stage, and must come out exactly as the plan says: otherwise synthesis stops.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from sluice_cdk.config import NetworkMode
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from sluice_cdk.config import StageConfig
    from sluice_shared.plan_context import PlanContext

__all__ = ["apply_plan"]


def apply_plan(config: StageConfig, plan: PlanContext | None) -> StageConfig:
    """``config`` with ``plan``'s values when the plan is for this stage; ``config`` itself otherwise.

    Raises:
        ConfigurationError: the planned stage breaks a configuration rule, or its budget does not give the
            plan's maximum concurrency.
    """
    if plan is None or plan.stage != config.name:
        return config
    network = NetworkMode(plan.network)
    planned = dataclasses.replace(
        config,
        topology=dataclasses.replace(
            config.topology,
            fifo=plan.fifo,
            batch_size=plan.batch_size,
            batching_window_seconds=plan.batching_window_seconds,
            consumer_timeout_seconds=plan.consumer_timeout_seconds,
            visibility_timeout_seconds=None,  # the minimum the rules allow for the planned timeout and window
        ),
        consumer_memory_mib=plan.consumer_memory_mib,
        concurrency_cap=plan.max_concurrency,
        database=dataclasses.replace(
            config.database,
            instance_type=plan.instance_type,
            max_connections=plan.max_connections,
            proxy_max_connections_percent=plan.proxy_max_connections_percent,
            reserved_connections=plan.reserved_connections,
            multi_az=plan.multi_az,
            allocated_storage_gib=plan.allocated_storage_gib,
            max_allocated_storage_gib=plan.max_allocated_storage_gib,
        ),
        network=network,
        nat_gateways=plan.nat_gateways if network is NetworkMode.NAT else config.nat_gateways,
        log_retention_days=plan.log_retention_days,
        tracing=plan.tracing,
    ).validate()
    derived = planned.budget.max_concurrency
    if derived != plan.max_concurrency:
        raise ConfigurationError(
            f"the plan for stage {plan.stage!r} asks for maximum concurrency {plan.max_concurrency}, but its budget "
            f"({plan.max_connections} max_connections x {plan.proxy_max_connections_percent} %, "
            f"{plan.reserved_connections} reserved) gives {derived}: make a new plan with `sluice plan`"
        )
    return planned
