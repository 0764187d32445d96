"""The fault suite's harness: the real pipeline, the real consumer behind the test proxy, and the reconciliation.

Each fault test runs a :class:`~sluice_local.LocalPipeline` (embedded moto SQS, the event source that
behaves like Lambda's poller, the real ingest function over HTTP) whose consumer is :class:`ConsumerUnderTest`:
the real ``sluice_consumer.handler.lambda_handler``, configured on its first invocation (the DLQ URL exists only
once the pipeline runs), with its database traffic routed through :class:`~tests.support.pgproxy.PgProxy` and
optional fault hooks around the store, the DLQ sender and each invocation.

Every test sends a :class:`KnownEvents` set (unique event ids: valid events through the ingest Function URL,
poison events straight to the queue as a producer bypassing ingest would) and ends with :func:`reconcile` and
:meth:`Reconciliation.assert_exactly_once`: each valid event is stored exactly once, each poison event is in the
DLQ with its reason, nothing else is anywhere.
"""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import psycopg

from sluice_consumer import runtime
from sluice_consumer.credentials import build_credentials
from sluice_consumer.database import Database
from sluice_consumer.dead_letters import SqsDeadLetterSink
from sluice_consumer.handler import lambda_handler
from sluice_consumer.store import PostgresEventStore
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.sqs import BatchSender
from sluice_shared.topology import QueueTopology
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from sluice_consumer.dead_letters import MessageSender
    from sluice_consumer.logic import EventStore
    from sluice_consumer.settings import ConsumerSettings
    from sluice_local.pipeline import LocalPipeline

__all__ = [
    "FAULT_TOPOLOGY",
    "ConsumerKilledError",
    "ConsumerUnderTest",
    "KnownEvents",
    "Reconciliation",
    "read_dlq",
    "reconcile",
    "send_known",
]

# A 1 s consumer timeout and no batching window: a 6 s visibility timeout, so a failed message is back quickly.
FAULT_TOPOLOGY: Final = QueueTopology(consumer_timeout_seconds=1, batch_size=10, batching_window_seconds=0).validate()
DRAIN_TIMEOUT_SECONDS: Final = 120
# The poison events break the contract in one well-known way: a timestamp without a zone.
POISON_CODE: Final = "invalid_message"
POISON_FIELD: Final = "occurred_at"
INGEST_PATH: Final = "/events"


class ConsumerKilledError(RuntimeError):
    """Stands for the execution environment dying: Lambda reports a function error and SQS redelivers the batch."""


@dataclass(frozen=True)
class KnownEvents:
    """A set of events with unique ids: valid ones the consumer must store, poison ones it must dead-letter."""

    valid: tuple[dict[str, Any], ...]
    poison: tuple[dict[str, Any], ...]

    @classmethod
    def make(cls, *, valid: int, poison: int = 0, tag: str = "fault") -> KnownEvents:
        """``valid`` catalog events and ``poison`` events whose ``occurred_at`` has no zone."""
        return cls(
            valid=tuple(
                event_dict(source=tag, payload={"order_id": f"o-{index}", "reason": "test"}) for index in range(valid)
            ),
            poison=tuple(
                event_dict(source=tag, occurred_at="2026-11-26T12:00:00", payload={"order_id": f"p-{index}"})
                for index in range(poison)
            ),
        )

    def __add__(self, other: KnownEvents) -> KnownEvents:
        return KnownEvents(self.valid + other.valid, self.poison + other.poison)

    @property
    def valid_ids(self) -> set[str]:
        """Event ids the consumer must store."""
        return {event["event_id"] for event in self.valid}

    @property
    def poison_ids(self) -> set[str]:
        """Event ids the consumer must dead-letter."""
        return {event["event_id"] for event in self.poison}


def send_known(pipeline: LocalPipeline, known: KnownEvents, *, group: str | None = None) -> None:
    """Valid events through the ingest Function URL (one POST), poison ones straight to the queue.

    On a FIFO queue the poison events go to message group ``group`` (ingest groups valid events by ``source``).
    """
    if known.valid:
        request = urllib.request.Request(  # noqa: S310 - the pipeline's own loopback URL
            pipeline.ingest_url.rstrip("/") + INGEST_PATH,
            data=json.dumps(list(known.valid)).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            receipt = json.loads(response.read())
        assert (response.status, receipt["queued"]) == (202, len(known.valid)), receipt
    bodies = [json.dumps(event) for event in known.poison]
    for start in range(0, len(bodies), 10):
        entries: list[Any] = []
        for index, body in enumerate(bodies[start : start + 10]):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": body}
            if group is not None:
                entry |= {"MessageGroupId": group, "MessageDeduplicationId": uuid.uuid4().hex}
            entries.append(entry)
        response_batch = pipeline.sqs.send_message_batch(QueueUrl=pipeline.queue_url, Entries=entries)
        assert not response_batch.get("Failed"), response_batch


@dataclass(frozen=True)
class Reconciliation:
    """Where every event ended: rows per event id, and one reason per DLQ copy per event id."""

    stored: Counter[str]
    dead: dict[str, list[DeadLetterReason | None]]

    def assert_exactly_once(self, known: KnownEvents, *, dlq_copies: dict[str, int] | None = None) -> None:
        """Each valid event stored once; each poison event in the DLQ (once, or ``dlq_copies[id]`` times) with
        its reason; nothing else stored or dead-lettered."""
        lost = known.valid_ids - set(self.stored)
        assert not lost, f"{len(lost)} valid events lost: {sorted(lost)[:5]}"
        assert self.stored == Counter(dict.fromkeys(known.valid_ids, 1)), self._twice()
        assert set(self.dead) == known.poison_ids, f"DLQ holds {len(self.dead)} of {len(known.poison_ids)} poison"
        expected = {event_id: (dlq_copies or {}).get(event_id, 1) for event_id in known.poison_ids}
        assert {event_id: len(copies) for event_id, copies in self.dead.items()} == expected
        reasons = {(r.error_code, r.error_field) if r else None for copies in self.dead.values() for r in copies}
        assert reasons <= {(POISON_CODE, POISON_FIELD)}, reasons

    def _twice(self) -> str:
        twice = [event_id for event_id, rows in self.stored.items() if rows > 1]
        return f"stored more than once: {twice[:5]}; unexpected rows: {len(self.stored)}"


def reconcile(pipeline: LocalPipeline, database_url: str) -> Reconciliation:
    """Wait until the queue is drained, then read every row and every DLQ copy (left in the DLQ)."""
    pipeline.wait_until_drained(DRAIN_TIMEOUT_SECONDS)
    with psycopg.connect(database_url) as conn:
        stored = Counter(str(event_id) for (event_id,) in conn.execute("SELECT event_id FROM events"))
    dead: dict[str, list[DeadLetterReason | None]] = {}
    for message in read_dlq(pipeline):
        event_id = json.loads(message["Body"])["event_id"]
        dead.setdefault(event_id, []).append(DeadLetterReason.from_attributes(message.get("MessageAttributes", {})))
    return Reconciliation(stored, dead)


def read_dlq(pipeline: LocalPipeline) -> list[dict[str, Any]]:
    """Every DLQ message, each read once (kept hidden while the rest are read), then made visible again."""
    found: list[dict[str, Any]] = []
    while True:
        batch = pipeline.sqs.receive_message(
            QueueUrl=pipeline.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=300,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        found.extend(batch)  # type: ignore[arg-type]
    for message in found:
        pipeline.sqs.change_message_visibility(
            QueueUrl=pipeline.dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return found


Invocation = Callable[[dict[str, Any], Any], Any]


@dataclass
class ConsumerUnderTest:
    """The real consumer handler for one pipeline, one invocation at a time, with optional faults.

    ``settings(dlq_url)`` gives the consumer's settings once the pipeline runs. ``wrap_store`` and
    ``wrap_sender`` wrap the real PostgreSQL store and the real DLQ sender; ``around(number, handler, event,
    context)`` runs each invocation (number 1, 2, ...) and may inject a fault before or after calling ``handler``.
    Use as a context manager around the pipeline: on exit the consumer's runtime is reset and its pool closed.
    """

    settings: Callable[[str], ConsumerSettings]
    wrap_store: Callable[[EventStore], EventStore] | None = None
    wrap_sender: Callable[[BatchSender], MessageSender] | None = None
    around: Callable[[int, Invocation, dict[str, Any], Any], Any] | None = None
    pipeline: LocalPipeline | None = None
    invocations: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    _database: Database | None = None
    _configured: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> Invocation:
        """The Lambda handler to give the pipeline (``LocalPipeline(consumer=...)``)."""
        return self._invoke

    def _invoke(self, event: dict[str, Any], context: Any) -> Any:
        # One invocation at a time, as in one Lambda execution environment (the local pipeline's own handlers
        # are serialized the same way).
        with self._lock:
            if not self._configured:
                self._configure()
            self.invocations += 1
            self.events.append(event)
            if self.around is None:
                return lambda_handler(event, context)
            return self.around(self.invocations, lambda_handler, event, context)

    def _configure(self) -> None:
        assert self.pipeline is not None, "attach the pipeline first: consumer.pipeline = pipeline"
        dlq_url = self.pipeline.dlq_url
        settings = self.settings(dlq_url)
        real = BatchSender(dlq_url, client=self.pipeline.sqs)
        sender: MessageSender = real if self.wrap_sender is None else self.wrap_sender(real)
        store: EventStore | None = None
        if self._database is not None:
            self._database.close()
        if self.wrap_store is not None:
            self._database = Database(build_credentials(settings), connect_timeout_s=settings.db_connect_timeout_s)
            store = self.wrap_store(
                PostgresEventStore(self._database, statement_timeout_ms=settings.db_statement_timeout_ms)
            )
        runtime.configure(settings, store=store, dead_letters=SqsDeadLetterSink(dlq_url, sender=sender))
        self._configured = True

    def reconfigure(self, settings: Callable[[str], ConsumerSettings]) -> None:
        """Use other settings from the next invocation on (an operator changed the function's configuration)."""
        with self._lock:
            self.settings = settings
            self._configured = False

    def close(self) -> None:
        """Reset the consumer's runtime (closing its pool) and close a store's own database."""
        runtime.configure(None)
        if self._database is not None:
            self._database.close()

    def __enter__(self) -> ConsumerUnderTest:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def deliveries(self) -> Counter[str]:
        """How many times each event id was delivered, over every invocation so far."""
        return Counter(
            event_id for number in range(1, len(self.events) + 1) for event_id in self.message_event_ids(number)
        )

    def message_event_ids(self, invocation: int) -> list[str]:
        """The event ids in the bodies of invocation ``invocation`` (1-based), where the body has one."""
        ids = []
        for record in self.events[invocation - 1]["Records"]:
            try:
                ids.append(json.loads(record["body"])["event_id"])
            except (ValueError, KeyError, TypeError):
                continue
        return ids
