"""``sluice plan``'s storage model against a real ``events`` table: bytes per row and WAL per row, measured.

The plan prices storage and sizes the database's write bandwidth from ``event_sizes(payload).stored`` and
``WRITE_AMPLIFICATION``; this writes rows through the consumer's own COPY path and checks the model holds.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import psycopg
import pytest

from sluice_cli.plan.assumptions import WRITE_AMPLIFICATION
from sluice_cli.plan.throughput import event_sizes
from sluice_consumer.ports import EventRow
from sluice_consumer.repository import copy_new_events
from sluice_consumer.rows import CONTENT_DIGEST_BYTES
from sluice_shared.ids import new_event_id

ROWS = 5000
BATCH = 1000


def payload(size: int) -> str:
    """A JSON object of short string fields (what events usually carry), ``size`` bytes or a few more."""
    fields: dict[str, str] = {}
    while len(json.dumps(fields, separators=(",", ":"))) < size:
        fields[f"field_{len(fields)}"] = uuid.uuid4().hex[:12]
    return json.dumps(fields, separators=(",", ":"))


def write_rows(conn: psycopg.Connection[Any], text: str) -> None:
    now = datetime.now(UTC)
    digest = sha256(text.encode()).digest()[:CONTENT_DIGEST_BYTES]  # the column's size is what counts here
    for _ in range(ROWS // BATCH):
        rows = [
            EventRow(new_event_id(), "order.created", "checkout", now, 1, text, str(uuid.uuid4()), 1, digest)
            for _ in range(BATCH)
        ]
        copy_new_events(conn, rows)


def scalar(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


# One INSERT of 1,000 rows whose WAL PostgreSQL itself reports (EXPLAIN's WAL option): other sessions on a shared
# server write WAL too, so the cluster's WAL position would not tell this statement's share.
INSERT_EXPLAINED = """
EXPLAIN (ANALYZE, WAL, FORMAT JSON)
INSERT INTO events (event_id, event_type, source, occurred_at, schema_version, payload, sqs_message_id,
                    receive_count, content_digest)
SELECT gen_random_uuid(), 'order.created', 'checkout', now(), 1, %s::jsonb, gen_random_uuid()::text, 1, %s
FROM generate_series(1, 1000)
"""


def measure(url: str, text: str) -> tuple[float, float]:
    """(bytes per row in the table and its index, WAL bytes per row) for payload ``text``."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        # ROWS rows through the consumer's COPY path, with time-ordered ids as the ingest function assigns
        write_rows(conn, text)
        conn.execute("VACUUM events")  # the visibility map and free space map, as autovacuum leaves them
        total = scalar(conn, "SELECT pg_total_relation_size('events')")
        plan = scalar(conn, INSERT_EXPLAINED, text, sha256(text.encode()).digest()[:CONTENT_DIGEST_BYTES])
    return total / ROWS, plan[0]["Plan"]["WAL Bytes"] / 1000


@pytest.mark.parametrize("size", [150, 800])
def test_stored_bytes_per_row_match_the_plan_within_10_percent(migrated_database_url: str, size: int) -> None:
    text = payload(size)

    stored, wal = measure(migrated_database_url, text)

    # the table with its primary key index holds what the plan says per row
    model = event_sizes(len(text)).stored
    assert stored == pytest.approx(model, rel=0.1), f"{stored:.0f} bytes/row measured, {model} modelled"
    # and the WAL written is within the plan's write amplification, with room left for the data pages
    assert wal < WRITE_AMPLIFICATION * model / 2


def test_rows_toast_compresses_take_no_more_than_the_plan_says(migrated_database_url: str) -> None:
    text = payload(1800)  # 200 + 1.2 x 1,800 = 2,360 bytes: above TOAST's 2,032, so pglz compresses the payload

    stored, _ = measure(migrated_database_url, text)

    # the plan does not count compression (payloads differ in how well they compress): an upper bound
    assert event_sizes(len(text)).toasted
    assert stored < event_sizes(len(text)).stored
