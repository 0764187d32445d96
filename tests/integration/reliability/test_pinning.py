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
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from pydantic import SecretStr

from sluice_consumer import runtime
from sluice_consumer.context import LocalContext
from sluice_consumer.handler import lambda_handler
from sluice_consumer.repository import (
    COPY_EVENTS_BINARY,
    INSERT_EVENTS,
    SELECT_APPLIED_VERSIONS,
    SELECT_STORED,
)
from sluice_consumer.settings import ConsumerSettings
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

    from tests.support.pgproxy import PgProxy


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
    # the schema gate's one read (once per execution environment), the writes, and the duplicate path's lookup
    assert set(report.sql) == {
        "",
        "BEGIN",
        "COMMIT",
        _as_sent(SELECT_APPLIED_VERSIONS),
        _as_sent(COPY_EVENTS_BINARY),
        _as_sent(INSERT_EVENTS),
        _as_sent(SELECT_STORED),
    }


def _hold_event_id(conn: psycopg.Connection[Any], event_id: str) -> None:
    """Insert a row with ``event_id`` and keep the transaction open: the consumer's write of that id waits."""
    conn.execute(
        "INSERT INTO events (event_id, event_type, source, occurred_at, payload, sqs_message_id, receive_count,"
        " schema_version) VALUES (%s, 'order.cancelled', 'blocker', now(), '{}', 'x', 1, 1)",
        (event_id,),
    )
