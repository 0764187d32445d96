"""The whole pipeline on one machine, as a context manager: what ``sluice local up`` runs and what tests drive.

Starts, on loopback only and in this order: an embedded SQS endpoint (moto) with the source queue and its DLQ
configured from a :class:`~sluice_shared.topology.QueueTopology`; PostgreSQL (explicit URL, else
testcontainers, else a throwaway cluster); the migrations; the ingest handler served as a Function URL; the
consumer driven by a Lambda-like SQS event source. :meth:`LocalPipeline.stop` undoes it in reverse: polling
stops and the batches being handled finish (failed or unfinished messages stay in SQS for redelivery), the
HTTP server stops, then the database and the SQS endpoint, and the process environment is restored. As
deployed, the migrations run as the database URL's user (the schema owner) and the consumer as ``sluice_writer``.

Only one pipeline runs per process at a time: the handlers' runtimes are process-wide, as in a Lambda
execution environment. Start it from a thread that outlives it (the main thread): a throwaway cluster is
tied to the starting thread so the kernel stops it if this process dies without stopping it.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sluice_local.database import DatabaseKind, mask_password
from sluice_local.event_source import EventSource, PollerConfig
from sluice_local.function_url import FunctionUrlServer
from sluice_local.handlers import consumer_handler, ingest_handler
from sluice_local.postgres import provision_postgres
from sluice_local.queues import LOCAL_TOPOLOGY, create_queues
from sluice_local.settings import LOCAL_REGION, client_environment, local_environment, metrics_disabled
from sluice_local.sqs_server import EmbeddedSqs
from sluice_shared import environment as env
from sluice_shared.aws import sqs_client
from sluice_shared.errors import SluiceError, TransientError
from sluice_shared.registry import load_registry
from sluice_shared.sqs import QueueDepth, SqsQueue

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient

    from sluice_local.database import ProvisionedDatabase
    from sluice_local.event_source import Handler, MessageQueue
    from sluice_local.queues import LocalQueues
    from sluice_shared.topology import QueueTopology

__all__ = [
    "LOCAL_POLL_WAIT_SECONDS",
    "LocalPipeline",
    "PipelineConfig",
    "PipelineFailedError",
    "PipelineNotDrainedError",
]

logger = logging.getLogger(__name__)

# Lambda long-polls for up to 20 s; locally 2 s keeps Ctrl-C and test teardown quick at the cost of one
# empty ReceiveMessage per poller every 2 s while idle.
LOCAL_POLL_WAIT_SECONDS: Final = 2
DEFAULT_QUEUE_NAME: Final = "sluice-local-events"
DRAIN_POLL_SECONDS: Final = 0.2
WRITER_PASSWORD_BYTES: Final = 24  # of randomness for the consumer role's password (32 URL-safe characters)

_T = TypeVar("_T")


class PipelineNotDrainedError(TransientError):
    """The queue still held messages when the wait for it to drain ran out."""

    code = "not_drained"


class PipelineFailedError(SluiceError):
    """A part of the local pipeline stopped with an unexpected error (see the log for the traceback)."""

    code = "pipeline_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    """How to run the local pipeline. Ports 0 pick free ones; ``queue_name`` None picks a unique name."""

    database_url: str | None = None
    topology: QueueTopology = LOCAL_TOPOLOGY
    queue_name: str | None = None
    max_concurrency: int = 2
    poll_wait_seconds: int = LOCAL_POLL_WAIT_SECONDS
    ingest_port: int = 0
    sqs_port: int = 0
    region: str = LOCAL_REGION
    migrate: bool = True
    # SLUICE_PAYLOAD_REGISTRY for both functions; None: the environment's (unset: no payload models, as deployed).
    payload_registry: str | None = None
    # SLUICE_APP_MIGRATIONS: the application's own migrations (its sink tables), applied after Sluice's.
    app_migrations: str | None = None
    # Replace the real handlers (tests, fault injection); None runs the consumer and ingest functions.
    consumer: Handler | None = None
    ingest: Handler | None = None
    # Wrap the event source's queue (fault injection: drop deletes, fail receives, ...).
    wrap_queue: Callable[[MessageQueue], MessageQueue] | None = None
    environment: dict[str, str] = field(default_factory=dict)


class LocalPipeline:
    """The local pipeline: use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, config: PipelineConfig | None = None, **overrides: Any) -> None:
        self.config = replace(config or PipelineConfig(), **overrides)
        self.queue_name = self.config.queue_name or f"sluice-{uuid.uuid4().hex[:8]}"
        self._stack: ExitStack | None = None
        self._sqs_endpoint: str | None = None
        self._queues: LocalQueues | None = None
        self._database: ProvisionedDatabase | None = None
        self._client: SQSClient | None = None
        self._http: FunctionUrlServer | None = None
        self._event_source: EventSource | None = None

    # --- where everything is ------------------------------------------------------------------

    @property
    def sqs_endpoint(self) -> str:
        """The embedded SQS endpoint URL."""
        return _started(self._sqs_endpoint)

    @property
    def queue_url(self) -> str:
        """The source queue's URL."""
        return _started(self._queues).queue_url

    @property
    def dlq_url(self) -> str:
        """The dead-letter queue's URL."""
        return _started(self._queues).dlq_url

    @property
    def queues(self) -> LocalQueues:
        """Both queues, their ARNs and the topology they follow."""
        return _started(self._queues)

    @property
    def database_url(self) -> str:
        """The database URL (with its password: do not print it, use :attr:`masked_database_url`)."""
        return _started(self._database).url

    @property
    def masked_database_url(self) -> str:
        """The database URL with any password replaced by ``***``."""
        return mask_password(self.database_url)

    @property
    def database_kind(self) -> DatabaseKind:
        """Which source provided the database."""
        return _started(self._database).kind

    @property
    def ingest_url(self) -> str:
        """The ingest function's base URL (a Lambda Function URL served on loopback; events go to ``/events``)."""
        return _started(self._http).url

    @property
    def event_source(self) -> EventSource:
        """The consumer's event source (its stats count batches, deletes and failures)."""
        return _started(self._event_source)

    @property
    def sqs(self) -> SQSClient:
        """An SQS client for the embedded endpoint."""
        return _started(self._client)

    @property
    def database_where(self) -> str:
        """The container's id or the throwaway cluster's directory; empty for an explicit URL."""
        return _started(self._database).where

    def exports(self) -> dict[str, str]:
        """The variables to export in another shell so ``sluice push``, ``sluice dlq`` and ``psql`` find it.

        The database URL is the working one, password included (a masked URL would be refused): show it only
        where a person asked for it.
        """
        return {
            **client_environment(self.sqs_endpoint, region=self.config.region),
            env.QUEUE_URL: self.queue_url,
            env.DLQ_URL: self.dlq_url,
            env.DATABASE_URL: self.database_url,
            **({env.PAYLOAD_REGISTRY: self.config.payload_registry} if self.config.payload_registry else {}),
        }

    # --- life cycle -------------------------------------------------------------------------------

    def start(self) -> LocalPipeline:
        """Start every part, in order; on any failure, stop what already started and raise.

        Raises:
            SluiceError: a part could not start (for example ``NoDatabaseError``, a port in use).
        """
        if self._stack is not None:
            raise RuntimeError("the local pipeline is already running")
        stack = ExitStack()
        self._stack = stack
        try:
            self._start(stack)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, stack: ExitStack) -> None:
        config = self.config
        sqs = EmbeddedSqs(port=config.sqs_port)
        endpoint = sqs.start()
        stack.callback(sqs.stop)
        self._sqs_endpoint = endpoint
        variables = {**client_environment(endpoint, region=config.region), **metrics_disabled(), **config.environment}
        stack.enter_context(local_environment(variables))
        client = sqs_client(endpoint_url=endpoint, region_name=config.region)
        self._client = client
        self._queues = create_queues(client, name=self.queue_name, topology=config.topology)
        self._database = stack.enter_context(provision_postgres(config.database_url))
        if config.migrate:
            from sluice_consumer.migrations import apply_migrations  # noqa: PLC0415 - psycopg only when used

            applied = apply_migrations(self._database.url, app_migrations=config.app_migrations)
            logger.info("migrations applied: %s", ", ".join(applied) or "none pending")
            self._prepare_sinks()
        consumer = config.consumer or stack.enter_context(
            consumer_handler(
                database_url=self._writer_url(),
                dlq_url=self.dlq_url,
                client=client,
                topology=config.topology,
                payload_registry=config.payload_registry,
            )
        )
        ingest = config.ingest or stack.enter_context(
            ingest_handler(queue_url=self.queue_url, client=client, payload_registry=config.payload_registry)
        )
        http = FunctionUrlServer(ingest, port=config.ingest_port, region=config.region)
        http.start()
        stack.callback(http.stop)
        self._http = http
        queue: MessageQueue = SqsQueue(self.queue_url, client=client)
        if config.wrap_queue is not None:
            queue = config.wrap_queue(queue)
        poller = PollerConfig.from_topology(
            config.topology, max_concurrency=config.max_concurrency, poll_wait_seconds=config.poll_wait_seconds
        )
        source = EventSource(queue, consumer, poller)
        source.start()
        stack.callback(source.stop)
        self._event_source = source

    def _prepare_sinks(self) -> None:
        """As the deploy does: grant the writer what the registry's sinks need, and check them.

        Raises:
            ConfigurationError: a sink cannot work against the migrated schema (every problem named).
        """
        from sluice_consumer.sink_check import grant_and_check_sinks  # noqa: PLC0415 - psycopg only when used
        from sluice_shared.settings import ContractSettings  # noqa: PLC0415

        spec = self.config.payload_registry
        registry = load_registry(spec) if spec else ContractSettings().build_registry()
        if registry.sinks:
            for granted in grant_and_check_sinks(_started(self._database).url, registry):
                logger.info("%s", granted)

    def _writer_url(self) -> str:
        """Give the consumer's role a fresh password and return its URL: the consumer never runs as the owner.

        As deployed: the schema owner migrates, ``sluice_writer`` (INSERT and SELECT on ``events``) consumes.
        The role is cluster-wide, so two local pipelines on one password-checking server overwrite each other's
        password; their connections already open keep working.
        """
        from sluice_consumer.roles import configure_writer_login, writer_conninfo  # noqa: PLC0415 - psycopg

        owner_url = _started(self._database).url
        password = secrets.token_urlsafe(WRITER_PASSWORD_BYTES)
        configure_writer_login(owner_url, password=password)
        return writer_conninfo(owner_url, password)

    def stop(self) -> None:
        """Stop polling (batches being handled finish), then the HTTP server, the database and SQS (idempotent)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- observing ----------------------------------------------------------------------------

    def depth(self) -> QueueDepth:
        """The source queue's approximate counts."""
        return SqsQueue(self.queue_url, client=self.sqs).depth()

    def check_healthy(self) -> None:
        """Raise when the event source stopped on an unexpected error.

        Raises:
            PipelineFailedError: naming the error (its traceback was logged).
        """
        source = self.event_source
        if source.failure is not None:
            raise PipelineFailedError(f"the event source stopped: {type(source.failure).__name__}: {source.failure}")

    def wait_until_drained(self, timeout: float) -> QueueDepth:
        """Wait until the source queue holds no visible, in-flight or delayed message and no batch is running.

        Failed messages count as in flight until their visibility timeout expires and they are handled again or
        moved to the DLQ. Returns the (empty) depth.

        Raises:
            PipelineNotDrainedError: still not drained after ``timeout`` seconds (with the counts).
            PipelineFailedError: the event source stopped on an unexpected error.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_healthy()
            depth = self.depth()
            if depth.empty and self.event_source.stats.in_flight_batches == 0:
                return depth
            if time.monotonic() > deadline:
                raise PipelineNotDrainedError(
                    f"queue not drained after {timeout:g} s: {depth.visible} waiting, {depth.in_flight} in flight, "
                    f"{depth.delayed} delayed"
                )
            time.sleep(DRAIN_POLL_SECONDS)


def _started(value: _T | None) -> _T:
    if value is None:
        raise RuntimeError("the local pipeline is not running: call start() or use it as a context manager")
    return value
