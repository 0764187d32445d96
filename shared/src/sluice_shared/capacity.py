"""What bounds a deployment's capacity: RDS instance classes, their connection ceiling, and RDS Proxy's budget.

Plain Python, no AWS import. The CDK stack derives the consumer's maximum concurrency from a
:class:`ConnectionBudget` at synth time, and ``sluice plan`` sizes a deployment with the same class, so the
plan and the stack cannot disagree on the arithmetic::

    proxy_connections = max_connections x max_connections_percent / 100      (what RDS Proxy may open)
    available         = proxy_connections - reserved_connections             (migrations + operators)
    max_concurrency   = min(concurrency_cap, available // connections_per_environment, 1000)

Each consumer execution environment holds one pooled connection, so ``max_concurrency`` environments never ask
the proxy for more database connections than it may open. The most client connections the proxy should see is
``client_capacity = max_concurrency x connections_per_environment + reserved_connections``: what the alarms on
client connections and pinned sessions measure against, so that each of them can fire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from sluice_shared.errors import ConfigurationError

__all__ = [
    "ESM_MAX_CONCURRENCY_RANGE",
    "INSTANCE_CLASSES",
    "ConnectionBudget",
    "InstanceClass",
    "default_max_connections",
    "instance_class",
]

# Lambda SQS event source MaximumConcurrency: 2..1000 (AWS::Lambda::EventSourceMapping ScalingConfig).
ESM_MAX_CONCURRENCY_RANGE: Final = (2, 1000)
# RDS for PostgreSQL default: max_connections = LEAST(DBInstanceClassMemory / 9531392, 5000).
_BYTES_PER_CONNECTION: Final = 9_531_392
_MAX_CONNECTIONS_CEILING: Final = 5_000


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceClass:
    """An RDS instance class (``db.`` prefix omitted) as the EC2 instance type tables describe it.

    ``baseline_cpu`` is the share of each vCPU a burstable (T) class may use without spending CPU credits
    (1.0 for fixed-performance classes); ``ebs_baseline_mbps`` the EBS bandwidth it sustains (Mbit/s, not its
    burst).
    """

    name: str
    vcpus: int
    memory_gib: int
    baseline_cpu: float
    ebs_baseline_mbps: int

    @property
    def burstable(self) -> bool:
        """True for T classes: sustained CPU above ``baseline_cpu`` spends credits."""
        return self.baseline_cpu < 1


def _classes(*specs: tuple[str, int, int, float, int]) -> dict[str, InstanceClass]:
    return {
        name: InstanceClass(name=name, vcpus=vcpus, memory_gib=memory, baseline_cpu=cpu, ebs_baseline_mbps=ebs)
        for name, vcpus, memory, cpu, ebs in specs
    }


# Graviton classes RDS for PostgreSQL offers: vCPUs, nominal memory (GiB), baseline CPU share, EBS baseline
# bandwidth (Mbit/s), from the EC2 instance type tables (general purpose and memory optimized, "EBS optimized").
INSTANCE_CLASSES: Final[dict[str, InstanceClass]] = _classes(
    ("t4g.micro", 2, 1, 0.10, 87),
    ("t4g.small", 2, 2, 0.20, 174),
    ("t4g.medium", 2, 4, 0.20, 347),
    ("t4g.large", 2, 8, 0.30, 695),
    ("t4g.xlarge", 4, 16, 0.40, 695),
    ("t4g.2xlarge", 8, 32, 0.40, 695),
    ("m7g.large", 2, 8, 1.0, 630),
    ("m7g.xlarge", 4, 16, 1.0, 1_250),
    ("m7g.2xlarge", 8, 32, 1.0, 2_500),
    ("m7g.4xlarge", 16, 64, 1.0, 5_000),
    ("m7g.8xlarge", 32, 128, 1.0, 10_000),
    ("m7g.12xlarge", 48, 192, 1.0, 15_000),
    ("m7g.16xlarge", 64, 256, 1.0, 20_000),
    ("r7g.large", 2, 16, 1.0, 630),
    ("r7g.xlarge", 4, 32, 1.0, 1_250),
)


def instance_class(name: str) -> InstanceClass:
    """The class called ``name`` (``m7g.large``; a ``db.`` prefix is accepted).

    Raises:
        ConfigurationError: the class is not in :data:`INSTANCE_CLASSES`.
    """
    try:
        return INSTANCE_CLASSES[name.removeprefix("db.")]
    except KeyError:
        known = ", ".join(sorted(INSTANCE_CLASSES))
        raise ConfigurationError(
            f"unknown instance type {name!r}: add it to INSTANCE_CLASSES (known: {known})"
        ) from None


def default_max_connections(instance_type: str, *, reserved_mib: int = 0) -> int:
    """RDS's default ``max_connections`` formula on the class's nominal memory less ``reserved_mib``.

    On the nominal memory it is an upper bound (RDS's DBInstanceClassMemory is lower: the OS and RDS's own
    processes keep some), never a target.

    Raises:
        ConfigurationError: the instance type is not in :data:`INSTANCE_CLASSES`.
    """
    memory_bytes = instance_class(instance_type).memory_gib * 1024**3 - reserved_mib * 1024**2
    return min(max(memory_bytes, 0) // _BYTES_PER_CONNECTION, _MAX_CONNECTIONS_CEILING)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionBudget:
    """How many consumer environments the database can serve through the proxy."""

    max_connections: int
    max_connections_percent: int
    reserved_connections: int
    connections_per_environment: int
    concurrency_cap: int

    @property
    def proxy_connections(self) -> int:
        """Database connections RDS Proxy may open: ``max_connections x max_connections_percent / 100``."""
        return self.max_connections * self.max_connections_percent // 100

    @property
    def available(self) -> int:
        """Proxy connections left for the consumer after migrations and operators."""
        return self.proxy_connections - self.reserved_connections

    @property
    def max_concurrency(self) -> int:
        """The event source's MaximumConcurrency: within the budget, the cap and AWS's 1000."""
        return min(
            self.concurrency_cap, self.available // self.connections_per_environment, ESM_MAX_CONCURRENCY_RANGE[1]
        )

    @property
    def client_capacity(self) -> int:
        """The most client connections the proxy should see: every consumer environment, migrations, operators."""
        return self.max_concurrency * self.connections_per_environment + self.reserved_connections

    def client_alarm_threshold(self, percent: int) -> int:
        """Client connections at which the "near the concurrency budget" alarm fires: ``percent`` of the capacity."""
        return math.ceil(self.client_capacity * percent / 100)

    def validate(self) -> ConnectionBudget:
        """Return ``self`` when the budget allows at least AWS's minimum concurrency of 2.

        Raises:
            ConfigurationError: naming the numbers that do not add up.
        """
        low = ESM_MAX_CONCURRENCY_RANGE[0]
        problems: list[str] = []
        if not 1 <= self.max_connections_percent <= 100:  # noqa: PLR2004 - a percentage
            problems.append(f"max_connections_percent {self.max_connections_percent} must be 1..100")
        if self.connections_per_environment < 1 or self.reserved_connections < 0:
            problems.append("connections per environment must be >= 1 and reserved connections >= 0")
        elif self.max_concurrency < low:
            problems.append(
                f"the proxy may open {self.proxy_connections} connections ({self.max_connections} x "
                f"{self.max_connections_percent} %), {self.reserved_connections} are reserved, leaving room for "
                f"{self.available // self.connections_per_environment} consumer environments; "
                f"the event source needs at least {low}"
            )
        if self.concurrency_cap < low:
            problems.append(f"concurrency cap {self.concurrency_cap} is below AWS's minimum of {low}")
        if problems:
            raise ConfigurationError("invalid connection budget: " + "; ".join(problems))
        return self
