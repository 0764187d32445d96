"""Recovery after a database outage: the first invocation a second after the database is back stores its batch.

psycopg_pool reconnects a lost pool in the background with exponential backoff (1, 2, 4 ... up to 128 s between
attempts) and a checkout only waits for it, so a warm consumer used to keep failing whole batches for tens of
seconds after PostgreSQL came back (and each failed batch waits a full visibility timeout on Lambda). These
tests stop the database (the strict test proxy refuses connections and drops the open ones, as a restart does)
for longer than the pool's first backoff steps, then check that the consumer, warm and cold, stores the first
batch of an invocation that starts a second after recovery, and fails fast, returning every message, while the
database is down. ``tests/benchmarks/bench_recovery.py`` prints the same figure for 5 s, 60 s and 6 min outages.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest
from pydantic import SecretStr

from sluice_cli.context import LocalContext
from sluice_consumer import runtime
from sluice_consumer.handler import lambda_handler
from sluice_consumer.settings import ConsumerSettings
from tests.support.events_table import COUNT_EVENTS
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.pgproxy import PgProxy

# Longer than psycopg_pool's first backoff steps (1 + 2 + 4 s): a backoff would now wait 8 s more.
OUTAGE_SECONDS: Final = 8.0
INVOKE_EVERY_SECONDS: Final = 0.5
# The goal: an invocation starting this long after the database accepts connections again stores its batch.
AFTER_RECOVERY_SECONDS: Final = 1.0
FUNCTION_TIMEOUT_SECONDS: Final = 3.0


@pytest.fixture
def consumer_through(pg_proxy: PgProxy, migrated_database_url: str) -> Iterator[ConsumerSettings]:
    settings = ConsumerSettings(
        database_url=SecretStr(pg_proxy.route(migrated_database_url)),
        batch_deadline_margin_ms=500,
        db_connect_timeout_s=2,
    )
    yield settings
    runtime.configure(None)


def _invoke(size: int = 3) -> dict[str, Any]:
    event = sqs_event([event_body() for _ in range(size)])
    return dict(lambda_handler(event, LocalContext(timeout_s=FUNCTION_TIMEOUT_SECONDS)))


def _everything(size: int = 3) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": f"m{index}"} for index in range(size)]}


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(COUNT_EVENTS).fetchone()
    assert row is not None
    return int(row[0])


def _down_for(proxy: PgProxy, seconds: float) -> list[tuple[dict[str, Any], float]]:
    """Invoke the consumer every half second while the database is down; return each response and its duration."""
    answers = []
    with proxy.outage():
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            started = time.monotonic()
            answers.append((_invoke(), time.monotonic() - started))
            time.sleep(INVOKE_EVERY_SECONDS)
    return answers


@pytest.mark.parametrize("start", ["warm", "cold"])
def test_first_invocation_a_second_after_an_outage_stores_its_batch(
    start: str, consumer_through: ConsumerSettings, pg_proxy: PgProxy, migrated_database_url: str
) -> None:
    # given a consumer that stored a batch before the outage (warm), or one first started during it (cold)
    runtime.configure(consumer_through)
    if start == "warm":
        assert _invoke() == {"batchItemFailures": []}
    stored_before = _count(migrated_database_url)

    # when the database is down for longer than the pool's first backoff steps
    answers = _down_for(pg_proxy, OUTAGE_SECONDS)

    # then every invocation meanwhile returned its whole batch, within the function's time
    assert answers
    assert all(response == _everything() for response, _ in answers)
    assert all(seconds < FUNCTION_TIMEOUT_SECONDS for _, seconds in answers)
    assert _count(migrated_database_url) == stored_before

    # when the first invocation starts a second after the database is back, then it stores its batch
    time.sleep(AFTER_RECOVERY_SECONDS)
    assert _invoke() == {"batchItemFailures": []}
    assert _count(migrated_database_url) == stored_before + 3
