"""The demo's accounting on a real local pipeline (real ingest and consumer): every event counted once, reconciled."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sluice_local.demo import DemoPlan, run_demo
from sluice_local.pipeline import LocalPipeline, PipelineConfig
from sluice_shared.catalog import CATALOG_MIGRATIONS, CATALOG_REGISTRY
from sluice_shared.topology import QueueTopology
from tests.support.factories import event_dict

TOPOLOGY = QueueTopology(consumer_timeout_seconds=2, batch_size=20, batching_window_seconds=1).validate()


@pytest.fixture
def pipeline(database_factory, aws_environment):
    config = PipelineConfig(
        database_url=database_factory.create(),
        topology=TOPOLOGY,
        poll_wait_seconds=1,
        payload_registry=CATALOG_REGISTRY,
        app_migrations=CATALOG_MIGRATIONS,
    )
    with LocalPipeline(config) as running:
        yield running


def test_the_demo_accounts_for_every_event_and_reconciles(pipeline):
    # given 40 valid events, 2 of them sent twice, 4 invalid ones, and 2 poison messages behind ingest's back
    # (valid ones of a type without a table sink: the catalog's tables stay empty, as reconciled)
    valid = [
        event_dict(event_type="user.signed_up", payload={"user_id": f"u-{n}", "email": "a@b.io", "plan": "pro"})
        for n in range(40)
    ]
    # the last one is invalid only under the sample catalog the demo validates against (no order_id, ...)
    invalid = [
        event_dict(occurred_at="2026-01-01T00:00:00"),
        event_dict(extra=1),
        event_dict(payload={"x": "\x00"}),
        event_dict(event_type="order.created", payload={"orderNumber": 7}),
    ]
    events = [*valid[:20], valid[3], *invalid, *valid[20:], valid[30]]
    poison = ["not json", json.dumps(event_dict(event_type="Not.Valid"))]

    # when
    report = run_demo(pipeline, DemoPlan(request_size=7, senders=2, max_backlog=15), events=events, poison=poison)

    # then
    assert (report.sent, report.accepted, report.rejected) == (46, 42, 4)
    assert (report.distinct_accepted, report.stored, report.duplicates_skipped) == (40, 40, 2)
    assert report.dead_letters == Counter({"malformed_json": 1, "invalid_message": 1})
    assert report.poison_sent == 2
    assert report.requests == 7
    assert len(report.latencies_ms) == 40
    assert report.problems == []
    assert [(table.table, table.rows, table.reconciled) for table in report.sink_tables] == [
        ("orders", 0, True),
        ("payments", 0, True),
    ]
    assert report.reconciled
