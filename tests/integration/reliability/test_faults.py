"""The fault suite: under each fault a deployment meets, every event ends exactly once in ``events`` or in the DLQ.

Every test drives the whole local pipeline (``LocalPipeline``: embedded moto SQS with the stack's redrive policy,
the Lambda-like event source, the real ingest function over HTTP) with the real consumer handler, whose database
traffic goes through the strict test proxy (any RDS Proxy pinning trigger fails the test). It sends a known set
of events with unique ids, injects one fault, waits until the queue is drained and reconciles every event: each
valid one stored exactly once, each poison one in the DLQ with its reason, none lost, none stored twice
(``tests/integration/reliability/harness.py``).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from sluice_consumer import runtime
from sluice_consumer.credentials import SecretCredentials
from sluice_consumer.settings import ConsumerSettings, SslMode
from sluice_local.handlers import deadline_margin_ms
from sluice_local.pipeline import LocalPipeline, PipelineConfig
from sluice_shared.aws import sqs_client
from sluice_shared.dead_letter import DeadLetterReason
from sluice_shared.registry import UnknownEventTypePolicy
from sluice_shared.sqs import BatchSender, RetryPolicy
from sluice_shared.topology import QueueTopology
from tests.integration.reliability.harness import (
    FAULT_TOPOLOGY,
    ConsumerKilledError,
    ConsumerUnderTest,
    KnownEvents,
    read_dlq,
    reconcile,
    send_known,
)
from tests.support.factories import event_dict
from tests.support.local import dlq_depth

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from botocore.awsrequest import AWSPreparedRequest

    from sluice_consumer.dead_letters import MessageSender
    from sluice_consumer.deadline import Deadline
    from sluice_consumer.logic import EventRow, EventStore, WriteResult
    from sluice_consumer.sink_mapping import SinkWrite
    from sluice_shared.sqs import OutgoingMessage, SendOutcome
    from tests.support.pgproxy import PgProxy

FIFO_FAULT_TOPOLOGY: Final = QueueTopology(
    consumer_timeout_seconds=1, batch_size=10, batching_window_seconds=0, fifo=True
).validate()
# For tests that assert no message was retried: a 5 s function timeout, so a slow moment on a shared machine is
# not a timeout. Rotation also waits out one connection attempt with the old password before re-reading the secret.
NO_RETRY_TOPOLOGY: Final = QueueTopology(
    consumer_timeout_seconds=5, batch_size=10, batching_window_seconds=0
).validate()
# The consumer's write: the optimistic binary COPY, or the idempotent INSERT it falls back to.
WRITE: Final = r"^\s*(COPY|INSERT INTO) events"
RESTART_SECONDS: Final = 2.0
CRASH_REPLAY: Final = Path(__file__).parents[1] / "dlq" / "crash_replay.py"
SLUICE: Final = str(Path(sys.executable).with_name("sluice"))
REPLAY_VISIBILITY_SECONDS: Final = 2
MAX_REPLAY_RUNS: Final = 10


def through(
    proxy: PgProxy, database_url: str, topology: QueueTopology = FAULT_TOPOLOGY, **overrides: Any
) -> Callable[[str], ConsumerSettings]:
    """Consumer settings that reach ``database_url`` through ``proxy``, as the local pipeline configures them."""

    def settings(dlq_url: str) -> ConsumerSettings:
        return ConsumerSettings(
            database_url=SecretStr(proxy.route(database_url)),
            dlq_url=dlq_url,
            batch_deadline_margin_ms=deadline_margin_ms(topology),
            db_connect_timeout_s=1,
            **overrides,
        )

    return settings


@pytest.fixture
def run_pipeline(
    pg_proxy: PgProxy, migrated_database_url: str, aws_environment: None
) -> Iterator[Callable[..., LocalPipeline]]:
    """Starts a local pipeline around a :class:`ConsumerUnderTest`; stops both at the end (the proxy last)."""
    with ExitStack() as stack:

        def run(consumer: ConsumerUnderTest, topology: QueueTopology = FAULT_TOPOLOGY) -> LocalPipeline:
            stack.enter_context(consumer)  # closed after the pipeline stops
            config = PipelineConfig(
                database_url=migrated_database_url,
                migrate=False,
                topology=topology,
                poll_wait_seconds=1,
                consumer=consumer.handler(),
            )
            pipeline = LocalPipeline(config)
            consumer.pipeline = pipeline
            return stack.enter_context(pipeline)

        yield run


# --- PostgreSQL restarted mid-batch -------------------------------------------------------------------


def test_postgres_restarting_mid_batch_loses_nothing_and_stores_nothing_twice(
    pg_proxy: PgProxy, run_pipeline: Callable[..., LocalPipeline], migrated_database_url: str
) -> None:
    """Through the local pipeline. On the second invocation the server goes away under the batch: the INSERT's
    connection is cut before the server runs the write and new connections are refused for 2 s, then it is back."""
    known = KnownEvents.make(valid=40, poison=4)
    restarts: list[threading.Timer] = []

    def restart_under_the_second_batch(number: int, handler: Any, event: dict[str, Any], context: Any) -> Any:
        if number == 2:
            pg_proxy.refuse(True)  # the open connection lives on until its statement: the batch has begun
            pg_proxy.drop_on(WRITE)
            restarts.append(threading.Timer(RESTART_SECONDS, pg_proxy.refuse, args=(False,)))
            restarts[0].start()
        return handler(event, context)

    consumer = ConsumerUnderTest(through(pg_proxy, migrated_database_url), around=restart_under_the_second_batch)
    pipeline = run_pipeline(consumer)

    send_known(pipeline, known)
    result = reconcile(pipeline, migrated_database_url)
    restarts[0].join()

    result.assert_exactly_once(known)
    assert any(
        re.search(r"dropped before \w+ \((COPY|INSERT INTO) events", fault) for fault in pg_proxy.report().faults
    )
    assert pipeline.event_source.stats.failed_records >= len(consumer.events[1]["Records"])


def test_a_commit_whose_answer_is_lost_is_retried_and_stored_once(
    pg_proxy: PgProxy, run_pipeline: Callable[..., LocalPipeline], migrated_database_url: str
) -> None:
    """Through the local pipeline. The connection dies after the server committed the first batch's write and
    before the consumer heard: it cannot know, reports the batch for retry, and the redelivery finds duplicates."""
    known = KnownEvents.make(valid=30, poison=3)
    pg_proxy.drop_on(WRITE, after_reply=True)
    consumer = ConsumerUnderTest(through(pg_proxy, migrated_database_url))
    pipeline = run_pipeline(consumer)

    send_known(pipeline, known)
    result = reconcile(pipeline, migrated_database_url)

    result.assert_exactly_once(known)
    assert any("dropped after the server's reply" in fault for fault in pg_proxy.report().faults)
    assert pipeline.event_source.stats.failed_records >= 1


# --- a connection killed between invocations -----------------------------------------------------------


@pytest.mark.parametrize(
    "kill",
    [
        pytest.param(lambda proxy: proxy.drop_connections(sqlstate="57P01"), id="terminated-by-the-server"),
        pytest.param(lambda proxy: proxy.close_idle(), id="closed-idle-by-rds-proxy"),
    ],
)
def test_a_connection_killed_between_invocations_costs_no_retry(
    kill: Callable[[PgProxy], int],
    pg_proxy: PgProxy,
    run_pipeline: Callable[..., LocalPipeline],
    migrated_database_url: str,
) -> None:
    """Through the local pipeline. Between two rounds of events the consumer's idle pooled connection is killed;
    the pool's check on checkout replaces it, so no message is even retried."""
    first, second = KnownEvents.make(valid=20, poison=2), KnownEvents.make(valid=20, poison=2)
    consumer = ConsumerUnderTest(through(pg_proxy, migrated_database_url, NO_RETRY_TOPOLOGY))
    pipeline = run_pipeline(consumer, NO_RETRY_TOPOLOGY)
    send_known(pipeline, first)
    reconcile(pipeline, migrated_database_url).assert_exactly_once(first)

    assert kill(pg_proxy) == 1
    send_known(pipeline, second)
    result = reconcile(pipeline, migrated_database_url)

    result.assert_exactly_once(first + second)
    stats = pipeline.event_source.stats
    assert (stats.failed_records, dict(stats.batch_errors)) == (0, {})
    assert [c.closed_by is not None for c in pg_proxy.report().connections].count(False) == 1


# --- credentials rotated -------------------------------------------------------------------------------


def test_rotated_credentials_are_re_read_and_the_batch_is_retried_in_the_same_invocation(
    pg_proxy: PgProxy,
    run_pipeline: Callable[..., LocalPipeline],
    migrated_database_url: str,
    sqs_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the local pipeline, in Secrets Manager mode (the secret in moto, the proxy checking the password).
    The password is rotated and the old connection dropped: the consumer's next connection is refused (28P01),
    it re-reads the secret once and writes the batch in the same invocation."""
    # given the database password in a Secrets Manager secret, checked by the proxy, and the secret's reads
    # counted as the HTTP requests the consumer's client sends (its client comes from boto3's default session)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", sqs_endpoint)
    reads = _count_secret_reads(monkeypatch)
    secrets = boto3.client("secretsmanager", endpoint_url=sqs_endpoint)
    secret_arn = secrets.create_secret(
        Name=f"sluice-{uuid.uuid4().hex}", SecretString=json.dumps({"username": "postgres", "password": "old-password"})
    )["ARN"]
    pg_proxy.require_password("old-password")
    consumer = ConsumerUnderTest(
        lambda dlq_url: ConsumerSettings(
            db_secret_arn=secret_arn,
            db_host=pg_proxy.host,
            db_port=pg_proxy.port,
            db_name=conninfo_to_dict(migrated_database_url)["dbname"],
            db_sslmode=SslMode.DISABLE,  # the loopback proxy speaks plaintext; TLS: tests/integration/security
            db_connect_timeout_s=1,
            dlq_url=dlq_url,
            batch_deadline_margin_ms=deadline_margin_ms(NO_RETRY_TOPOLOGY),
        )
    )
    pipeline = run_pipeline(consumer, NO_RETRY_TOPOLOGY)
    before, after = KnownEvents.make(valid=20, poison=2), KnownEvents.make(valid=20, poison=2)
    send_known(pipeline, before)
    reconcile(pipeline, migrated_database_url).assert_exactly_once(before)

    # when the password is rotated (secret first, then the database) and the consumer's connection goes away
    secrets.put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"username": "postgres", "password": "new-password"})
    )
    pg_proxy.require_password("new-password")
    assert pg_proxy.drop_connections() == 1
    send_known(pipeline, after)
    result = reconcile(pipeline, migrated_database_url)

    # then one connection was refused, the secret was read twice in all, and no message needed SQS to retry it
    result.assert_exactly_once(before + after)
    closed = [c.closed_by for c in pg_proxy.report().connections]
    assert closed.count("proxy: password refused") == 1
    assert isinstance(runtime.get_credentials(), SecretCredentials)
    assert reads == [secret_arn, secret_arn]
    assert pipeline.event_source.stats.failed_records == 0


def _count_secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``SecretId`` of each ``GetSecretValue`` request sent by clients of boto3's default session from now on."""
    reads: list[str] = []
    session = boto3.Session()

    def sent(request: AWSPreparedRequest, **_: object) -> None:
        body = request.body  # the JSON protocol's request document, as sent
        reads.append(json.loads(body if isinstance(body, bytes | str) else b"{}")["SecretId"])

    session.events.register("before-send.secrets-manager.GetSecretValue", sent)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return reads


# --- the SQS endpoint failing during the DLQ send ---------------------------------------------------------


def _dead_endpoint() -> str:
    """An http URL on loopback where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


class DeadUntil:
    """Wraps the DLQ sender: its first ``calls`` sends (all, for ``None``) go to an endpoint refusing connections."""

    def __init__(self, *, calls: int | None) -> None:
        self.remaining = calls
        self.dead_sends = 0
        self._senders: tuple[BatchSender, BatchSender] | None = None

    def wrap(self, real: BatchSender) -> MessageSender:
        """Use ``real`` once the endpoint is back (``ConsumerUnderTest(wrap_sender=...)``)."""
        client = sqs_client(endpoint_url=_dead_endpoint())
        dead = BatchSender(real.queue_url, client=client, retry=RetryPolicy(max_attempts=2, base_delay_seconds=0.01))
        self._senders = (dead, real)
        return self

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        assert self._senders is not None
        dead, real = self._senders
        if self.remaining is None or self.remaining > 0:
            self.remaining = None if self.remaining is None else self.remaining - 1
            self.dead_sends += 1
            return dead.send(messages)
        return real.send(messages)


def test_a_dlq_send_that_fails_is_retried_and_the_message_reaches_the_dlq_with_its_reason(
    pg_proxy: PgProxy, run_pipeline: Callable[..., LocalPipeline], migrated_database_url: str
) -> None:
    """Through the local pipeline. The first DLQ send meets an SQS endpoint that refuses connections: those poison
    messages are reported as batch item failures, come back after the visibility timeout and are sent then."""
    known = KnownEvents.make(valid=20, poison=4)
    sender = DeadUntil(calls=1)
    pipeline = run_pipeline(ConsumerUnderTest(through(pg_proxy, migrated_database_url), wrap_sender=sender.wrap))

    send_known(pipeline, known)
    result = reconcile(pipeline, migrated_database_url)

    result.assert_exactly_once(known)
    assert sender.dead_sends == 1
    assert pipeline.event_source.stats.failed_records >= 1


def test_a_dlq_that_stays_unreachable_leaves_the_message_to_sqs_redrive(
    pg_proxy: PgProxy, run_pipeline: Callable[..., LocalPipeline], migrated_database_url: str
) -> None:
    """Through the local pipeline. Every DLQ send fails: each poison message is retried until SQS's own redrive
    policy moves it to the DLQ after maxReceiveCount (5) receives, without a reason attached. Nothing is lost."""
    known = KnownEvents.make(valid=5, poison=2)
    consumer = ConsumerUnderTest(through(pg_proxy, migrated_database_url), wrap_sender=DeadUntil(calls=None).wrap)
    pipeline = run_pipeline(consumer)
    send_known(pipeline, known)
    result = reconcile(pipeline, migrated_database_url)

    assert result.stored == dict.fromkeys(known.valid_ids, 1)
    assert result.dead == {event_id: [None] for event_id in known.poison_ids}
    delivered = consumer.deliveries()
    assert {event_id: delivered[event_id] for event_id in known.poison_ids} == dict.fromkeys(
        known.poison_ids, FAULT_TOPOLOGY.max_receive_count
    )


# --- the consumer killed between commit and delete ----------------------------------------------------------


class KilledAfterCommit:
    """Wraps the real store: the execution environment dies right after the ``call``-th write committed."""

    def __init__(self, *, call: int) -> None:
        self.call = call
        self.calls = 0
        self.killed_ids: set[str] = set()
        self._real: EventStore | None = None

    def wrap(self, real: EventStore) -> EventStore:
        """Write through ``real`` (``ConsumerUnderTest(wrap_store=...)``)."""
        self._real = real
        return self

    def store(
        self, rows: Sequence[EventRow], *, deadline: Deadline, effects: Sequence[Sequence[SinkWrite]] = ()
    ) -> WriteResult:
        assert self._real is not None
        written = self._real.store(rows, deadline=deadline, effects=effects)
        self.calls += 1
        if self.calls == self.call:
            self.killed_ids = {str(row.event_id) for row in rows}
            raise ConsumerKilledError("the execution environment died right after the commit")
        return written


def test_a_consumer_killed_right_after_its_commit_stores_each_event_once(
    pg_proxy: PgProxy, run_pipeline: Callable[..., LocalPipeline], migrated_database_url: str
) -> None:
    """Through the local pipeline. The second write commits and the environment dies before dead-lettering,
    answering or deleting anything: SQS redelivers the whole batch, whose rows are then duplicates."""
    known = KnownEvents.make(valid=30, poison=3)
    store = KilledAfterCommit(call=2)
    pipeline = run_pipeline(ConsumerUnderTest(through(pg_proxy, migrated_database_url), wrap_store=store.wrap))

    send_known(pipeline, known)
    result = reconcile(pipeline, migrated_database_url)

    result.assert_exactly_once(known)
    assert store.killed_ids
    assert store.killed_ids <= known.valid_ids
    assert pipeline.event_source.stats.batch_errors["function error"] == 1


@pytest.mark.parametrize(
    ("topology", "copies"),
    [pytest.param(FAULT_TOPOLOGY, 2, id="standard"), pytest.param(FIFO_FAULT_TOPOLOGY, 1, id="fifo")],
)
def test_a_consumer_killed_after_dead_lettering_stores_each_event_once(
    topology: QueueTopology,
    copies: int,
    pg_proxy: PgProxy,
    run_pipeline: Callable[..., LocalPipeline],
    migrated_database_url: str,
) -> None:
    """Through the local pipeline. The environment dies after a batch holding poison was committed and
    dead-lettered, before its answer reached the poller: SQS redelivers the whole batch. Rows are stored once;
    the poison is dead-lettered again: a second DLQ copy on a standard DLQ, deduplicated on a FIFO one (the
    deduplication id is the source message id)."""
    known = KnownEvents.make(valid=15, poison=3)
    killed: list[int] = []

    def dies_after_dead_lettering(number: int, handler: Any, event: dict[str, Any], context: Any) -> Any:
        response = handler(event, context)
        if not killed and set(consumer.message_event_ids(number)) & known.poison_ids:
            killed.append(number)
            raise ConsumerKilledError("the execution environment died before answering")
        return response

    consumer = ConsumerUnderTest(through(pg_proxy, migrated_database_url, topology), around=dies_after_dead_lettering)
    pipeline = run_pipeline(consumer, topology)
    send_known(pipeline, known, group="poison" if topology.fifo else None)
    result = reconcile(pipeline, migrated_database_url)

    killed_poison = set(consumer.message_event_ids(killed[0])) & known.poison_ids
    result.assert_exactly_once(known, dlq_copies=dict.fromkeys(killed_poison, copies))
    assert pipeline.event_source.stats.batch_errors["function error"] == 1


# --- a replay killed mid-way ---------------------------------------------------------------------------------


def test_a_replay_killed_mid_way_then_rerun_stores_each_event_once(
    pg_proxy: PgProxy, run_pipeline: Callable[..., LocalPipeline], migrated_database_url: str
) -> None:
    """Through the local pipeline and the real ``sluice dlq replay``, killed (SIGKILL) between a confirmed send
    and its delete by the DLQ suite's own crash wrapper (``tests/integration/dlq/crash_replay.py``), then rerun.

    Events of an unregistered type are dead-lettered while the consumer rejects unknown types; the operator then
    lets them in and replays. The killed run leaves its sent chunk in both queues; the rerun sends it again, and
    the consumer stores every event exactly once.
    """
    events = [event_dict(event_type="audit.logged", payload={"n": index}) for index in range(30)]
    event_ids = {event["event_id"] for event in events}
    reject = through(pg_proxy, migrated_database_url, unknown_event_types=UnknownEventTypePolicy.REJECT)
    consumer = ConsumerUnderTest(reject)
    pipeline = run_pipeline(consumer)
    for start in range(0, len(events), 10):
        chunk = events[start : start + 10]
        pipeline.sqs.send_message_batch(
            QueueUrl=pipeline.queue_url,
            Entries=[{"Id": str(index), "MessageBody": json.dumps(event)} for index, event in enumerate(chunk)],
        )
    pipeline.wait_until_drained(60)
    dead = _dlq_reasons(pipeline)
    assert {reason.error_code if reason else None for reason in dead} == {"unknown_event_type"}
    assert len(dead) == len(events)

    # when the operator accepts the type and replays, the first replay dying before its second delete
    consumer.reconfigure(through(pg_proxy, migrated_database_url))
    killed = _sluice(pipeline, [sys.executable, str(CRASH_REPLAY), "2", "--"])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    for _ in range(MAX_REPLAY_RUNS):
        if _dlq_depth(pipeline) == 0:
            break
        time.sleep(REPLAY_VISIBILITY_SECONDS + 0.2)  # the killed run's hidden messages reappear
        _sluice(pipeline, [SLUICE])
    assert _dlq_depth(pipeline) == 0

    # then every event is stored exactly once, though the killed chunk was delivered twice
    pipeline.wait_until_drained(60)
    with psycopg.connect(migrated_database_url) as conn:
        rows = conn.execute("SELECT event_id::text, count(*) FROM events GROUP BY 1").fetchall()
    assert dict(rows) == dict.fromkeys(event_ids, 1)
    delivered = [record for event in consumer.events for record in event["Records"]]
    killed_chunk = int(killed.stdout.split(" of ")[1].split()[0])
    assert len(delivered) >= 2 * len(events) + killed_chunk  # first pass, replays, the killed chunk again


def _sluice(pipeline: LocalPipeline, prefix: list[str]) -> subprocess.CompletedProcess[str]:
    arguments = ["dlq", "replay", "-q", pipeline.dlq_url, "--visibility-timeout", str(REPLAY_VISIBILITY_SECONDS)]
    return subprocess.run([*prefix, *arguments], capture_output=True, text=True, check=False, timeout=120)


def _dlq_depth(pipeline: LocalPipeline) -> int:
    depth = dlq_depth(pipeline)
    return depth.visible + depth.in_flight


def _dlq_reasons(pipeline: LocalPipeline) -> list[DeadLetterReason | None]:
    return [DeadLetterReason.from_attributes(message.get("MessageAttributes", {})) for message in read_dlq(pipeline)]
