"""Stage configuration: every name, size, timeout and switch of the deployed stack, in one typed module.

Plain Python (no CDK import), so the rules below are checked and tested without starting jsii. Each stage is a
frozen :class:`StageConfig`; :meth:`StageConfig.validate` runs at synth time and raises
:class:`~sluice_shared.errors.ConfigurationError` naming the broken rule. The queue/event-source rules are
``sluice_shared.topology.QueueTopology``'s, shared with the local pipeline.

The connection budget (:class:`~sluice_shared.capacity.ConnectionBudget`, re-exported here) and the instance
classes live in :mod:`sluice_shared.capacity`, shared with ``sluice plan``, so a plan and the stack derive the
consumer's maximum concurrency with the same arithmetic (each consumer environment holds one pooled connection;
the alarms on client connections and pinned sessions measure against the budget's ``client_capacity``). A plan's
CDK context is applied by :mod:`sluice_cdk.plan`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import ClassVar, Final

from sluice_shared import environment as env
from sluice_shared.capacity import (
    ESM_MAX_CONCURRENCY_RANGE,
    INSTANCE_CLASSES,
    ConnectionBudget,
    default_max_connections,
)
from sluice_shared.errors import ConfigurationError
from sluice_shared.limits import SQS_MAX_RETENTION_SECONDS, SQS_MIN_RETENTION_SECONDS
from sluice_shared.topology import QueueTopology

__all__ = [
    "DEFAULT_STAGE",
    "ESM_MAX_CONCURRENCY_RANGE",
    "INSTANCE_MEMORY_GIB",
    "LAMBDA_PYTHON_VERSION",
    "MIGRATIONS_DEADLINE_MARGIN_SECONDS",
    "MIGRATIONS_MIN_RETRY_BUDGET_SECONDS",
    "MIGRATIONS_PROVIDER_TIMEOUT_SECONDS",
    "STAGES",
    "AlarmDestination",
    "AlarmThresholds",
    "Architecture",
    "ConnectionBudget",
    "DatabaseAuth",
    "DatabaseConfig",
    "NetworkMode",
    "StageConfig",
    "default_max_connections",
    "stage_config",
]

# The Lambda runtime (python3.13) and the interpreter `make build` compiles bytecode for: they must match.
LAMBDA_PYTHON_VERSION: Final = "3.13"
# Nominal memory of the instance classes (sluice_shared.capacity.INSTANCE_CLASSES). DBInstanceClassMemory is
# somewhat lower (RDS reserves memory for the OS), so RDS's formula on it is an upper bound, never a target.
INSTANCE_MEMORY_GIB: Final[dict[str, int]] = {name: spec.memory_gib for name, spec in INSTANCE_CLASSES.items()}
# The migrations function retries an unavailable database until this much of its timeout is left (it then
# reports the last error): the same number as sluice_consumer.migrate.DEADLINE_MARGIN_S, held equal by a test.
MIGRATIONS_DEADLINE_MARGIN_SECONDS: Final = 15
# A first deploy waits for RDS Proxy to register its target (minutes): the retry budget is at least 10 minutes.
MIGRATIONS_MIN_RETRY_BUDGET_SECONDS: Final = 600
# The CDK trigger provider (a Lambda function) invokes the migrations function synchronously and has 15 minutes
# itself (CustomResourceProvider's default); a migrations timeout must leave it a minute to report the result,
# else CloudFormation waits an hour for a custom resource that never answers.
MIGRATIONS_PROVIDER_TIMEOUT_SECONDS: Final = 900
_PROVIDER_REPORT_SECONDS: Final = 60
_EMAIL: Final = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_SNS_TOPIC_ARN: Final = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_REGISTRY_SPEC: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class Architecture(StrEnum):
    """Lambda instruction set; `make build ARCH=...` installs wheels for the same one."""

    ARM64 = "arm64"
    X86_64 = "x86_64"


class NetworkMode(StrEnum):
    """How the functions in the VPC reach AWS APIs (SQS, Secrets Manager)."""

    NAT = "nat"  # public + private-with-egress subnets, NAT gateway(s): the tutorial's layout
    ENDPOINTS = "endpoints"  # isolated subnets, interface endpoints, no route to the internet at all


class DatabaseAuth(StrEnum):
    """How the consumer authenticates to RDS Proxy."""

    IAM = "iam"  # short-lived IAM tokens: no password on the hot path; the role may rds-db:connect as one user
    SECRET = "secret"  # noqa: S105 - a mode name: the consumer reads the password from Secrets Manager


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseConfig:
    """RDS PostgreSQL instance and RDS Proxy settings."""

    instance_type: str
    max_connections: int  # pinned in the parameter group so the budget is exact, not a memory estimate
    multi_az: bool
    deletion_protection: bool
    backup_retention_days: int
    rotation_days: int | None  # None: no automatic rotation of the generated secret
    allocated_storage_gib: int = 20  # gp3 minimum
    max_allocated_storage_gib: int = 100  # storage autoscaling ceiling
    database_name: str = "sluice"
    username: str = "sluice"  # the schema owner (RDS master user): the migrations connect as it, the consumer never
    auth: DatabaseAuth = DatabaseAuth.IAM
    proxy_max_connections_percent: int = 90  # 10 % stays free for RDS's reserved slots and secret rotation
    proxy_borrow_timeout_seconds: int = 30  # the proxy fails a client's request after waiting this long
    reserved_connections: int = 5  # migrations (1) + operators (4), through the proxy
    connections_per_environment: int = 1  # the consumer's pool holds one connection per environment

    def validate(self) -> DatabaseConfig:
        """Return ``self`` when the instance can hold ``max_connections``.

        Raises:
            ConfigurationError: the pinned ``max_connections`` exceeds RDS's own formula for the class.
        """
        ceiling = default_max_connections(self.instance_type)
        if not 1 <= self.max_connections <= ceiling:
            raise ConfigurationError(
                f"max_connections {self.max_connections} must be 1..{ceiling} for {self.instance_type} "
                "(RDS's LEAST(DBInstanceClassMemory/9531392, 5000) on its nominal memory)"
            )
        if self.max_allocated_storage_gib <= self.allocated_storage_gib:
            raise ConfigurationError("max_allocated_storage_gib must exceed allocated_storage_gib (autoscaling)")
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmThresholds:
    """When the alarms fire; DLQ depth, errors, throttles and pinned sessions alarm on any occurrence."""

    oldest_message_age_seconds: int = 300  # the backlog is older than 5 minutes
    client_connections_percent: int = 80  # of the budget's client capacity (ConnectionBudget.client_capacity)
    borrow_latency_ms: int = 1_000  # the proxy took this long to hand out a database connection
    evaluation_period_seconds: int = 60
    evaluation_periods: int = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmDestination:
    """Where alarms go: emails (a topic of the stack's own), an existing SNS topic, or, explicitly, nowhere."""

    emails: tuple[str, ...] = ()
    topic_arn: str | None = None
    nowhere: bool = False

    NOWHERE: ClassVar[str] = "none"

    @classmethod
    def parse(cls, text: str) -> AlarmDestination:
        """``"none"``, an SNS topic ARN, or comma-separated email addresses (the ``sluice:alarm-destination`` value).

        Raises:
            ConfigurationError: anything else, naming what was not understood.
        """
        value = text.strip()
        if value.lower() == cls.NOWHERE:
            return cls(nowhere=True)
        if value.startswith("arn:"):
            if not _SNS_TOPIC_ARN.match(value):
                raise ConfigurationError(f"alarm destination {value!r} is not an SNS topic ARN")
            return cls(topic_arn=value)
        emails = tuple(part.strip() for part in value.split(",") if part.strip())
        wrong = [email for email in emails if not _EMAIL.match(email)]
        if not emails or wrong:
            raise ConfigurationError(
                f"alarm destination {value!r}: expected email addresses (comma-separated), an SNS topic ARN or "
                f"{cls.NOWHERE!r}" + (f"; not an email address: {', '.join(wrong)}" if wrong else "")
            )
        return cls(emails=emails)

    @property
    def configured(self) -> bool:
        """True when alarms reach someone, or the configuration says on purpose that they go nowhere."""
        return bool(self.emails or self.topic_arn or self.nowhere)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageConfig:
    """One deployable stage of Sluice."""

    name: str
    network: NetworkMode
    nat_gateways: int  # NAT mode only: 1 is cheaper, one per AZ survives an AZ outage
    database: DatabaseConfig
    topology: QueueTopology = field(default_factory=QueueTopology)
    queue_retention_seconds: int = 4 * 24 * 3600  # SQS default: 4 days
    concurrency_cap: int = 10  # upper bound on consumer environments even when the budget allows more
    consumer_memory_mib: int = 512
    ingest_memory_mib: int = 256
    ingest_timeout_seconds: int = 10
    # Lambda timeout of the migrations function; its retry budget is this less MIGRATIONS_DEADLINE_MARGIN_SECONDS.
    migrations_timeout_seconds: int = 780
    log_retention_days: int = 30
    retain_data: bool = False  # True: the database snapshots, queues, secret and logs outlive the stack
    alarms: AlarmThresholds = field(default_factory=AlarmThresholds)
    alarm_destination: AlarmDestination = field(default_factory=AlarmDestination)
    require_alarm_destination: bool = False  # True: refuse to synthesize while alarms would reach no one
    log_level: str = "INFO"
    tracing: bool = False  # X-Ray active tracing on every function (costs per trace; off in dev)
    # SLUICE_PAYLOAD_REGISTRY ('package.module:attribute', shipped in the functions' code) for both functions.
    # None: the variable is not set, so the functions have no payload models and validate the envelope only.
    payload_registry: str | None = None
    # SLUICE_APP_MIGRATIONS ('package.module:folder' shipped in the consumer's code, or a path inside it): the
    # application's own migrations (its table sinks' tables), applied by the migrations function after Sluice's.
    app_migrations: str | None = None

    @property
    def contract_environment(self) -> dict[str, str]:
        """The contract settings every function gets: the payload registry, only when one is configured."""
        return {env.PAYLOAD_REGISTRY: self.payload_registry} if self.payload_registry else {}

    @property
    def migrations_environment(self) -> dict[str, str]:
        """What the migrations function needs beyond the database: the registry (to check its sinks) and the
        application's migrations, each only when configured."""
        app = {env.APP_MIGRATIONS: self.app_migrations} if self.app_migrations else {}
        return {**self.contract_environment, **app}

    @property
    def budget(self) -> ConnectionBudget:
        """The proxy connection budget and the consumer concurrency derived from it."""
        return ConnectionBudget(
            max_connections=self.database.max_connections,
            max_connections_percent=self.database.proxy_max_connections_percent,
            reserved_connections=self.database.reserved_connections,
            connections_per_environment=self.database.connections_per_environment,
            concurrency_cap=self.concurrency_cap,
        )

    def validate(self) -> StageConfig:
        """Return ``self`` when the stage, its queues, its database and its budget are consistent.

        Raises:
            ConfigurationError: naming the broken rule (visibility timeout, budget, retention, ...).
        """
        self.topology.validate()
        self.database.validate()
        self.budget.validate()
        # SQS keeps a dead-lettered message's original enqueue time: a DLQ retaining for less than the source
        # queue would drop redriven messages early (SQS developer guide, dead-letter queues).
        retention = (self.queue_retention_seconds, self.topology.dlq_retention_seconds)
        if not SQS_MIN_RETENTION_SECONDS <= retention[0] <= retention[1] <= SQS_MAX_RETENTION_SECONDS:
            raise ConfigurationError(
                f"queue retention {self.queue_retention_seconds} s must be 60 s..DLQ retention "
                f"{self.topology.dlq_retention_seconds} s, which must be at most 14 days"
            )
        if self.network is NetworkMode.NAT and self.nat_gateways < 1:
            raise ConfigurationError("NAT network mode needs at least one NAT gateway")
        if self.payload_registry is not None and _REGISTRY_SPEC.fullmatch(self.payload_registry) is None:
            raise ConfigurationError(
                f"payload registry {self.payload_registry!r} must look like 'package.module:attribute'"
            )
        self._validate_migrations_timeout()
        self._validate_alarms()
        return self

    def _validate_migrations_timeout(self) -> None:
        low = MIGRATIONS_MIN_RETRY_BUDGET_SECONDS + MIGRATIONS_DEADLINE_MARGIN_SECONDS
        high = MIGRATIONS_PROVIDER_TIMEOUT_SECONDS - _PROVIDER_REPORT_SECONDS
        if not low <= self.migrations_timeout_seconds <= high:
            raise ConfigurationError(
                f"migrations timeout {self.migrations_timeout_seconds} s must be {low}..{high} s: at least "
                f"{MIGRATIONS_MIN_RETRY_BUDGET_SECONDS} s of retries for a first proxy registration, and a minute "
                f"left of the trigger provider's {MIGRATIONS_PROVIDER_TIMEOUT_SECONDS} s to report"
            )

    def _validate_alarms(self) -> None:
        alarms, budget = self.alarms, self.budget
        borrow_timeout_ms = self.database.proxy_borrow_timeout_seconds * 1000
        if not 0 < alarms.borrow_latency_ms < borrow_timeout_ms:
            raise ConfigurationError(
                f"borrow latency alarm {alarms.borrow_latency_ms} ms can never fire: a borrow fails after the "
                f"proxy's {borrow_timeout_ms} ms borrow timeout"
            )
        if (
            not budget.reserved_connections
            < budget.client_alarm_threshold(alarms.client_connections_percent)
            <= (budget.client_capacity)
        ):
            raise ConfigurationError(
                f"client connections alarm at {alarms.client_connections_percent} % of the capacity "
                f"({budget.client_capacity}) must lie above the {budget.reserved_connections} reserved connections "
                "and within the capacity"
            )
        if not alarms.oldest_message_age_seconds < self.queue_retention_seconds:
            raise ConfigurationError(
                f"oldest message age alarm {alarms.oldest_message_age_seconds} s can never fire: the queue keeps "
                f"messages {self.queue_retention_seconds} s"
            )
        if self.require_alarm_destination and not self.alarm_destination.configured:
            raise ConfigurationError(
                f"stage {self.name} has no alarm destination: pass -c sluice:alarm-destination=<emails, comma-"
                f"separated | an SNS topic ARN | {AlarmDestination.NOWHERE!r} to deploy alarms that notify no one>"
            )


STAGES: Final[dict[str, StageConfig]] = {
    "dev": StageConfig(
        name="dev",
        network=NetworkMode.ENDPOINTS,
        nat_gateways=1,
        database=DatabaseConfig(
            instance_type="t4g.micro",
            max_connections=80,  # t4g.micro's own default is ~87 (1 GiB less the OS reserve)
            multi_az=False,
            deletion_protection=False,
            backup_retention_days=1,
            rotation_days=None,
        ),
        concurrency_cap=10,
        log_retention_days=14,
        retain_data=False,
    ),
    "prod": StageConfig(
        name="prod",
        network=NetworkMode.ENDPOINTS,
        nat_gateways=2,
        database=DatabaseConfig(
            instance_type="m7g.large",
            max_connections=800,  # below the class's default (~850 of 901 on nominal memory)
            multi_az=True,
            deletion_protection=True,
            backup_retention_days=14,
            rotation_days=30,
            reserved_connections=10,
        ),
        concurrency_cap=100,
        consumer_memory_mib=1024,
        log_retention_days=365,
        tracing=True,
        retain_data=True,
        require_alarm_destination=True,
    ),
}
DEFAULT_STAGE: Final = "dev"


def stage_config(name: str, *, alarm_destination: AlarmDestination | None = None) -> StageConfig:
    """The validated configuration of stage ``name``, its alarms sent to ``alarm_destination`` when given.

    Raises:
        ConfigurationError: unknown stage, or a rule of :meth:`StageConfig.validate` is broken.
    """
    try:
        config = STAGES[name]
    except KeyError:
        raise ConfigurationError(f"unknown stage {name!r}: expected one of {', '.join(sorted(STAGES))}") from None
    if alarm_destination is not None:
        config = replace(config, alarm_destination=alarm_destination)
    return config.validate()
