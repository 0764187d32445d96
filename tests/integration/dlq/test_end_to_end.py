"""End to end with the local pipeline: rejected events land in the DLQ with reasons; once the contract
learns their event type, ``sluice dlq replay`` puts them back and the consumer stores them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import psycopg
from pydantic import SecretStr

from sluice_cli.app import main
from sluice_local.handlers import deadline_margin_ms
from sluice_local.pipeline import LocalPipeline
from sluice_shared import environment as env
from sluice_shared.topology import QueueTopology
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from tests.support.postgres import DatabaseFactory

TOPOLOGY = QueueTopology(consumer_timeout_seconds=2, batch_size=10, batching_window_seconds=0).validate()
REGISTRIES = "tests.integration.dlq.registries"


def _ingest_not_used(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 503, "body": "{}"}


def _sluice(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``sluice``; its stdout without the consumer's log lines (Powertools logs to stdout, in its thread)."""
    capsys.readouterr()
    status = main(list(argv))
    lines = capsys.readouterr().out.splitlines()
    return status, "\n".join(line for line in lines if not line.startswith('{"level":'))


def test_rejected_events_are_replayed_and_stored_once_their_type_is_registered(
    database_factory: DatabaseFactory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from sluice_consumer import runtime  # noqa: PLC0415 - psycopg and Powertools only for this test
    from sluice_consumer.settings import ConsumerSettings  # noqa: PLC0415

    shipments = [
        event_dict(event_type="shipment.dispatched", payload={"shipment_id": f"s-{n}", "carrier": "dhl"})
        for n in range(4)
    ]
    broken = [event_dict(payload={"reason": "no order id"}) for _ in range(2)]
    valid = [event_dict() for _ in range(5)]
    with LocalPipeline(
        database_url=database_factory.create(),
        topology=TOPOLOGY,
        poll_wait_seconds=1,
        ingest=_ingest_not_used,
        environment={env.PAYLOAD_REGISTRY: f"{REGISTRIES}:strict"},
    ) as pipeline:
        # given: a producer that bypasses ingest sends all of them straight to the queue
        events = tmp_path / "events.jsonl"
        events.write_text("".join(json.dumps(event) + "\n" for event in valid + shipments + broken), encoding="utf-8")
        endpoint = ["--endpoint-url", pipeline.sqs_endpoint]
        status, _ = _sluice(
            capsys, "push", str(events), "--queue-url", pipeline.queue_url, "--skip-validation", *endpoint
        )
        assert status == 0
        pipeline.wait_until_drained(60)
        dlq = ["-q", pipeline.dlq_url, *endpoint]

        # then: the invalid ones are in the DLQ, with their reasons
        status, out = _sluice(capsys, "dlq", "stats", *dlq, "--json")
        assert status == 0
        stats = json.loads(out)
        assert stats["by_error_type"] == {"unknown_event_type": 4, "invalid_message": 2}
        assert stats["by_event_type"] == {"shipment.dispatched": 4, "order.cancelled": 2}

        # when: the contract learns shipment.dispatched, and the rejected ones are replayed
        runtime.configure(
            ConsumerSettings(
                database_url=SecretStr(pipeline.database_url),
                dlq_url=pipeline.dlq_url,
                batch_deadline_margin_ms=deadline_margin_ms(TOPOLOGY),
                payload_registry=f"{REGISTRIES}:relaxed",
            )
        )
        status, out = _sluice(capsys, "dlq", "replay", *dlq, "--error-type", "unknown_event_type")
        assert status == 0
        assert out.splitlines()[0] == "replayed 4, skipped by filter 2, failed 0 (of 6 read)"
        pipeline.wait_until_drained(60)

        # then: stored once each; only the truly broken ones remain in the DLQ
        with psycopg.connect(pipeline.database_url) as conn:
            stored = conn.execute("SELECT event_id::text, event_type FROM events").fetchall()
        status, out = _sluice(capsys, "dlq", "stats", *dlq, "--json")
        remaining = json.loads(out)

    assert sorted(stored) == sorted((event["event_id"], event["event_type"]) for event in valid + shipments)
    assert remaining["by_error_type"] == {"invalid_message": 2}
