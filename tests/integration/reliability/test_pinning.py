"""RDS Proxy safety, proven on the wire: the consumer's whole hot path through the strict test proxy pins nothing.

The real handler runs against a migrated database through :class:`~tests.support.pgproxy.PgProxy` in strict mode
(any RDS Proxy pinning trigger fails the connection, and the test when the proxy closes): new rows, duplicates
within and across batches, a row the database refuses (bisection), a batch over 1,000 rows (one explicit
transaction), a dropped connection (transient, retried), a statement cancelled at the deadline, a connection
closed while idle between invocations, a poison message sent to the DLQ, and the schema gate's read. The test
prints the proxy's summary, including whether the extended query protocol was used.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest
from pydantic import SecretStr

from sluice_cli.context import LocalContext
from sluice_consumer import runtime
from sluice_consumer.handler import lambda_handler
from sluice_consumer.repository import (
    COPY_EVENTS_BINARY,
    INSERT_EVENTS,
    PROBE_STORED,
    SELECT_APPLIED_VERSIONS,
)
from sluice_consumer.roles import configure_writer_login, writer_conninfo
from sluice_consumer.settings import ConsumerSettings
from tests.integration.consumer.conftest import dead_letters
from tests.integration.consumer.test_sinks import cancelled, created, deleted, paid
from tests.support.factories import event_body
from tests.support.sink_registry import REGISTRY as SINK_REGISTRY
from tests.support.sink_registry import TABLES as SINK_TABLES
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

    from sluice_consumer.logic import PartialBatchResponse
    from tests.support.pgproxy import PgProxy, ProxyReport


def failures(*indexes: int) -> dict[str, list[dict[str, str]]]:
    return {"batchItemFailures": [{"itemIdentifier": f"m{index}"} for index in indexes]}


def _as_sent(statement: str) -> str:
    """A statement as psycopg sends it: ``%b`` and ``%s`` placeholders become ``$1``, ``$2``, ..."""
    parts = re.split("%[bs]", statement)
    return "".join(part + (f"${index}" if index < len(parts) else "") for index, part in enumerate(parts, 1))


@pytest.fixture
def dlq_url(sqs_client: SQSClient, sqs_endpoint: str, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    return sqs_client.create_queue(QueueName=f"{unique_name}-dlq")["QueueUrl"]


@pytest.fixture
def consumer_through_proxy(pg_proxy: PgProxy, migrated_database_url: str, dlq_url: str) -> Iterator[PgProxy]:
    """The consumer configured to reach the migrated database through the strict proxy."""
    runtime.configure(ConsumerSettings(database_url=SecretStr(pg_proxy.route(migrated_database_url)), dlq_url=dlq_url))
    yield pg_proxy
    runtime.configure(None)


def test_the_consumers_whole_hot_path_pins_no_rds_proxy_session(
    consumer_through_proxy: PgProxy, migrated_database_url: str
) -> None:
    proxy = consumer_through_proxy
    with psycopg.connect(migrated_database_url, autocommit=True) as db:
        db.execute("ALTER TABLE events ADD CONSTRAINT events_source_not_blocked CHECK (source <> 'blocked')")
        fresh = [event_body() for _ in range(10)]

        # new rows, then the same batch again (every row a duplicate) plus a twin within one batch
        assert lambda_handler(sqs_event(fresh), LocalContext()) == failures()
        assert lambda_handler(sqs_event([*fresh[:5], twin := event_body(), twin]), LocalContext()) == failures()
        # a row the database refuses: the batch is bisected until it stands alone, then dead-lettered
        refused = [event_body(), event_body(), event_body(source="blocked"), event_body()]
        assert lambda_handler(sqs_event(refused), LocalContext()) == failures()
        # a poison message goes to the DLQ without touching the database
        assert lambda_handler(sqs_event(["{not json", event_body()]), LocalContext()) == failures()
        # 2,500 rows, fresh: one binary COPY, atomic on its own
        assert lambda_handler(sqs_event([event_body() for _ in range(2500)]), LocalContext()) == failures()
        # 2,500 rows, one already stored: the COPY fails whole, then three INSERTs in one explicit transaction
        assert lambda_handler(sqs_event([fresh[0], *(event_body() for _ in range(2499))]), LocalContext()) == failures()
        # the connection is dropped mid-statement: every message is retried, the pool reconnects next time
        proxy.drop_on(r"^\s*(COPY|INSERT INTO) events")
        dropped = [event_body(), event_body()]
        assert lambda_handler(sqs_event(dropped), LocalContext()) == failures(0, 1)
        assert lambda_handler(sqs_event(dropped), LocalContext()) == failures()
        # a statement past the deadline is cancelled with a cancel request (its own connection, no SET)
        held = str(uuid.uuid4())
        with psycopg.connect(migrated_database_url) as blocker:
            _hold_event_id(blocker, held)
            late = sqs_event([event_body(), event_body(event_id=held)])
            assert lambda_handler(late, LocalContext(timeout_s=3.5)) == failures(0, 1)
            blocker.rollback()
        # RDS Proxy closes a client connection left idle: the pool's check on checkout replaces it
        assert proxy.close_idle() == 1
        assert lambda_handler(sqs_event([event_body()]), LocalContext()) == failures()

        rows = db.execute("SELECT count(*) FROM events").fetchone()

    report = proxy.report()
    print(f"\nRDS Proxy pinning proof of the consumer's hot path:\n{report.summary()}")
    assert rows == (10 + 1 + 3 + 1 + 2500 + 2499 + 2 + 1,)
    assert report.pinning == ()
    assert report.named_statements == ()
    assert report.extended_protocol_used  # binary parameters travel in Bind messages; unnamed statements only
    assert report.binary_parameters_used
    assert report.cancel_requests == 1
    # the schema gate's one read (once per execution environment), the writes, and the duplicate path's lookup;
    # no empty query: the checkout's health check costs no round trip on a connection the server left alone, and
    # the idle connection the proxy closed was seen closed on its socket, before anything was sent on it
    assert set(report.sql) == {
        "BEGIN",
        "COMMIT",
        _as_sent(SELECT_APPLIED_VERSIONS),
        _as_sent(COPY_EVENTS_BINARY),
        _as_sent(INSERT_EVENTS),
        _as_sent(PROBE_STORED),
    }


def _hold_event_id(conn: psycopg.Connection[Any], event_id: str) -> None:
    """Insert a row with ``event_id`` and keep the transaction open: the consumer's write of that id waits."""
    conn.execute(
        "INSERT INTO events (event_id, event_type, source, occurred_at, payload, sqs_message_id, receive_count,"
        " schema_version) VALUES (%s, 'order.cancelled', 'blocker', now(), '{}', 'x', 1, 1)",
        (event_id,),
    )


# Each sink's one statement, recognised by what it writes (the sinks of tests/support/sink_registry.py).
SINK_STATEMENTS: Final = {
    "insert (order_log, no key)": re.compile(r'\bINSERT INTO "public"\."order_log" \('),
    "insert (payments, foreign key)": re.compile(r'\bINSERT INTO "public"\."payments" \('),
    "upsert (orders)": re.compile(r'\bINSERT INTO "public"\."orders" AS target\b'),
    "update (orders.status)": re.compile(r'\bUPDATE "public"\."orders" AS target\b'),
    "delete (orders, tombstones)": re.compile(r'\bDELETE FROM "public"\."orders" AS target\b'),
    # orders has a delete sink: its upserts and updates first make sure each key has a lock row and lock it, and
    # its deletes write their tombstone first, so a delete and an upsert of one key serialize across invocations
    "key lock rows (orders)": re.compile(r'\bINSERT INTO "sluice_sink_tombstones" \(sink_table'),
    "key locks (orders)": re.compile(r"\bFOR UPDATE OF tomb\b"),
    "tombstones (orders)": re.compile(r'\bINSERT INTO "sluice_sink_tombstones" AS tomb\b'),
}


@dataclass(frozen=True)
class SinkStep:
    """What one handler invocation sent: its transactions, and each sink statement's count in each of them."""

    name: str
    messages: int
    transactions: int
    rolled_back: int
    statements: Counter[str]
    per_transaction: Counter[str]  # the largest count of a sink's statement in one transaction
    texts: frozenset[str]  # the distinct SQL texts of the sink statements

    def row(self) -> str:
        counts = ", ".join(f"{sink}: {count}" for sink, count in sorted(self.statements.items()))
        return (
            f"  {self.name:<46} {self.messages:>3} messages, {self.transactions} transactions "
            f"({self.rolled_back} rolled back); sink statements: {counts or 'none'}"
        )


def _sink_step(name: str, messages: int, report: ProxyReport) -> SinkStep:
    """Split what the proxy saw into transactions (per connection, BEGIN to COMMIT/ROLLBACK) and count sinks."""
    open_transactions: dict[int, Counter[str]] = {}
    transactions: list[Counter[str]] = []
    rolled_back = 0
    statements: Counter[str] = Counter()
    texts: set[str] = set()
    for record in report.statements:
        text = record.sql.strip()
        if text == "BEGIN":
            open_transactions[record.connection] = Counter()
            continue
        if text in {"COMMIT", "ROLLBACK"}:
            transactions.append(open_transactions.pop(record.connection))
            rolled_back += text == "ROLLBACK"
            continue
        sinks = [sink for sink, pattern in SINK_STATEMENTS.items() if pattern.search(text)]
        assert len(sinks) <= 1, text
        if sinks:
            assert record.connection in open_transactions, f"a sink statement outside a transaction: {text[:80]}"
            assert record.protocol == "extended", text  # its binary array parameters travel in Bind messages
            texts.add(text)
            open_transactions[record.connection][sinks[0]] += 1
            statements[sinks[0]] += 1
    per_transaction: Counter[str] = Counter()
    for counts in transactions:
        per_transaction |= counts  # the maximum per sink
    return SinkStep(name, messages, len(transactions), rolled_back, statements, per_transaction, frozenset(texts))


def _print_steps(steps: list[SinkStep]) -> Counter[str]:
    """Print each step's statements per sink (``-s`` shows them) and return the totals."""
    print("\nRDS Proxy pinning proof of every sink mode (statements per sink, counted on the wire):")
    print("\n".join(item.row() for item in steps))
    totals: Counter[str] = Counter()
    for item in steps:
        totals.update(item.statements)
    print(f"  totals: {dict(sorted(totals.items()))}; each at most once in any transaction")
    return totals


@pytest.fixture
def sinks_through_proxy(
    pg_proxy: PgProxy, migrated_database_url: str, dlq_url: str
) -> Iterator[tuple[PgProxy, psycopg.Connection[Any]]]:
    """The consumer with the sink registry, as ``sluice_writer`` (as deployed), reaching the migrated database (with
    the sink tables) through the proxy."""
    password = secrets.token_urlsafe(24)
    configure_writer_login(migrated_database_url, password=password)
    with psycopg.connect(migrated_database_url, autocommit=True) as db:
        db.execute(SINK_TABLES)
        db.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON orders, payments, order_log TO sluice_writer")
        runtime.configure(
            ConsumerSettings(
                database_url=SecretStr(pg_proxy.route(writer_conninfo(migrated_database_url, password))),
                dlq_url=dlq_url,
                payload_registry=SINK_REGISTRY,
            )
        )
        try:
            yield pg_proxy, db
        finally:
            runtime.configure(None)


def test_every_sink_mode_writes_one_statement_per_batch_and_pins_nothing(
    sinks_through_proxy: tuple[PgProxy, psycopg.Connection[Any]], sqs_client: SQSClient, dlq_url: str
) -> None:
    proxy, db = sinks_through_proxy
    steps: list[SinkStep] = []

    def step(name: str, bodies: list[str], *, receive_count: int = 1) -> PartialBatchResponse:
        proxy.reset()
        response: PartialBatchResponse = lambda_handler(sqs_event(bodies, receive_count=receive_count), LocalContext())
        report = proxy.report()
        assert report.pinning == (), report.summary()
        assert report.named_statements == (), report.summary()
        steps.append(_sink_step(name, len(bodies), report))
        return response

    at = "2026-11-26T12:{:02d}:00+00:00".format
    orders = [created(f"o-{index}", at=at(10)) for index in range(30)]
    # insert (no key) and upsert, one transaction; then newer, older and redelivered upserts with a twin
    assert step("insert + upsert: 30 new orders", orders) == failures()
    newer = [created(f"o-{index}", at=at(20), total=200) for index in range(5)]
    older = [created(f"o-{index}", at=at(5), total=5) for index in range(5, 10)]
    assert step("upsert: newer, older, twin", [*newer, *older, newer[0]]) == failures()
    assert step("upsert: redelivered", orders[:10], receive_count=2) == failures()
    # insert with a foreign key to every order that is there
    assert step("insert with a foreign key: 20 payments", [paid(f"o-{index}") for index in range(20)]) == failures()
    # update: one cancellation has no row yet, so the transaction is rolled back and redone without it
    cancellations = [*(cancelled(f"o-{index}", at=at(30)) for index in range(20)), cancelled("o-404", at=at(30))]
    assert step("update: 20 rows, 1 held back (redo pass)", cancellations) == failures(20)
    # delete (tombstones) of orders without payments, one with no row at all (ignored, tombstoned)
    deletions = [*(deleted(f"o-{index}", at=at(40)) for index in range(20, 30)), deleted("o-500", at=at(40))]
    assert step("delete: 11 keys, tombstones", deletions) == failures()
    # upserts consult the tombstones: an older one stays out, a newer one brings its row back
    back = [created("o-20", at=at(35)), created("o-21", at=at(45)), created("o-500", at=at(39))]
    assert step("upsert after delete: tombstones consulted", back) == failures()
    # a row the table refuses: the batch is bisected until it stands alone, then dead-lettered
    refused = [created(f"o-{index}", at=at(50)) for index in range(40, 47)]
    bad = created("o-bad", total=-5)
    assert step("constraint violation: bisection", [*refused[:3], bad, *refused[3:]]) == failures()
    # a payment whose order is not there: bisected, retried, then dead-lettered on its last delivery
    early = paid("o-999")
    fk_batch = [*(paid(f"o-{index}") for index in range(40, 47)), early]
    assert step("foreign key: bisection, retried", fk_batch) == failures(7)
    assert step("foreign key: last delivery, dead-lettered", [early], receive_count=5) == failures()

    totals = _print_steps(steps)

    # each sink wrote with exactly one statement in each transaction that had rows for it, whatever the batch size
    for item in steps:
        assert set(item.per_transaction.values()) <= {1}, item
    by_name = {item.name: item for item in steps}
    locks = {"key lock rows (orders)": 1, "key locks (orders)": 1}
    assert by_name["insert + upsert: 30 new orders"].statements == Counter(
        {"insert (order_log, no key)": 1, "upsert (orders)": 1, **locks}
    )
    assert by_name["update: 20 rows, 1 held back (redo pass)"].statements == Counter(
        {"update (orders.status)": 2, "key lock rows (orders)": 2, "key locks (orders)": 2}
    )
    assert by_name["update: 20 rows, 1 held back (redo pass)"].rolled_back == 1
    assert by_name["delete: 11 keys, tombstones"].statements == Counter(
        {"delete (orders, tombstones)": 1, "tombstones (orders)": 1}
    )
    assert by_name["constraint violation: bisection"].rolled_back >= 2
    assert totals.keys() == SINK_STATEMENTS.keys()
    # one fixed text per statement of each sink, whatever the batch size: composed once, rows travel as array
    # parameters (the two lock statements are composed per sink: once for the upsert, once for the update)
    assert len(frozenset().union(*(item.texts for item in steps))) == len(SINK_STATEMENTS) + 2
    # and the tables hold what the events imply
    assert db.execute("SELECT count(*) FROM orders WHERE status = 'cancelled'").fetchone() == (20,)
    assert db.execute("SELECT count(*) FROM payments").fetchone() == (27,)
    kept = db.execute("SELECT order_id FROM orders WHERE order_id IN ('o-20', 'o-21', 'o-500') ORDER BY 1")
    assert kept.fetchall() == [("o-21",)]
    letters = sorted((reason.error_code, body) for body, reason in dead_letters(sqs_client, dlq_url, expected=2))
    assert letters == sorted([("constraint_violation", bad), ("missing_reference", early)])
