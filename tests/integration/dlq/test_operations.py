"""``sluice dlq stats|peek|purge|redrive`` and bad input, against the moto server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sluice_cli.dlq.purge import purge_older_than
from sluice_cli.dlq.queue import SqsDeadLetterQueue, SqsQueues
from sluice_shared.errors import ConstraintViolationError, UnknownEventTypeError
from tests.support.factories import event_body

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient

    from tests.integration.dlq.conftest import Queues, Result

SLUICE = str(Path(sys.executable).with_name("sluice"))


def _fill(queues: Queues) -> None:
    queues.dead_letter([event_body(event_type="order.created") for _ in range(4)])
    queues.dead_letter(
        [event_body(event_type="shipment.sent") for _ in range(3)],
        error=UnknownEventTypeError.single("event_type", "no model"),
    )
    queues.dead_letter(
        ["{not json"], error=ConstraintViolationError("x", sqlstate="23514", constraint="orders_total_not_negative")
    )
    queues.redrive_by_sqs([event_body(event_type="order.created") for _ in range(2)])


def test_stats_show_depth_oldest_age_and_counts_by_type(queues: Queues, sluice: Callable[..., Result]) -> None:
    _fill(queues)

    result = sluice("dlq", "stats", "-q", queues.dlq_url, "--json")

    assert result.status == 0
    stats = json.loads(result.out)
    assert stats["oldest_age_seconds"] < 60
    del stats["oldest_age_seconds"]
    assert stats == {
        "queue": queues.dlq_arn.rsplit(":", 1)[-1],
        "visible": 10,
        "in_flight": 0,
        "delayed": 0,
        "scanned": 10,
        "complete": True,
        "by_error_type": {
            "invalid_message": 4,
            "unknown_event_type": 3,
            "max_receive_count_exceeded": 2,
            "constraint_violation": 1,
        },
        "by_event_type": {"order.created": 6, "shipment.sent": 3, "(none)": 1},
        "by_constraint": {"orders_total_not_negative": 1},
    }
    assert queues.depth(queues.dlq_url) == 10


def test_stats_from_a_sample_say_so(queues: Queues, sluice: Callable[..., Result]) -> None:
    _fill(queues)

    result = sluice("dlq", "stats", "-q", queues.dlq_url, "--scan-limit", "4")

    assert result.status == 0
    assert "by error type (sample of 4)" in result.out
    assert result.err.strip() == "counts and age are from 4 messages read; raise --scan-limit to read more"


def test_peek_shows_reasons_without_consuming(queues: Queues, sluice: Callable[..., Result]) -> None:
    _fill(queues)

    result = sluice("dlq", "peek", "-q", queues.dlq_url, "--limit", "8", "--json")

    assert result.status == 0
    shown = json.loads(result.out)
    assert len(shown) == 8
    first = shown[0]
    assert (first["error_type"], first["error_field"], first["event_type"]) == (
        "invalid_message",
        "payload.sku",
        "order.created",
    )
    assert first["receive_count"] == 1
    assert first["source_queue"] == queues.dlq_arn.replace("-dlq", "")
    # visible again at once: every message can be received right away
    assert len(queues.drain(queues.dlq_url)) == 10


def test_peek_table_for_people(queues: Queues, sluice: Callable[..., Result]) -> None:
    queues.dead_letter([event_body(event_type="order.created")])

    result = sluice("dlq", "peek", "-q", queues.dlq_url)

    assert result.status == 0
    assert "event id" in result.out
    assert "invalid_me" in result.out  # folded at 80 columns
    assert queues.depth(queues.dlq_url) == 1


def test_purge_by_age_deletes_only_older_messages(queues: Queues, sqs_client: SQSClient) -> None:
    # given: two batches a moment apart; "now" is set one hour after the moment between them
    older = [event_body() for _ in range(5)]
    queues.dead_letter(older)
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    queues.dead_letter([event_body() for _ in range(3)])
    dlq = SqsDeadLetterQueue(sqs_client, SqsQueues(sqs_client).find(queues.dlq_url))

    # when
    report = purge_older_than(dlq, older_than=timedelta(hours=1), now=lambda: between + timedelta(hours=1))

    # then
    assert (report.scanned, report.deleted, report.kept, report.not_deleted) == (8, 5, 3, 0)
    kept = queues.drain(queues.dlq_url)
    assert not {message["Body"] for message in kept} & set(older)


def test_purge_asks_first_and_nothing_is_deleted_when_declined(
    queues: Queues, sluice: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    queues.dead_letter([event_body() for _ in range(3)])
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))

    declined = sluice("dlq", "purge", "-q", queues.dlq_url, "--older-than", "0s")

    assert declined.status == 1
    assert "Delete messages older than 0s from" in declined.err
    assert declined.err.strip().endswith("nothing deleted")
    assert queues.depth(queues.dlq_url) == 3

    confirmed = sluice("dlq", "purge", "-q", queues.dlq_url, "--older-than", "0s", "--yes")

    assert confirmed.status == 0
    assert confirmed.out.strip() == "deleted 3 older than 0s, kept 0 (of 3 read)"
    assert queues.depth(queues.dlq_url) == 0


def test_purge_without_age_purges_the_whole_queue(queues: Queues, sluice: Callable[..., Result]) -> None:
    queues.dead_letter([event_body() for _ in range(4)])

    result = sluice("dlq", "purge", "-q", queues.dlq_url, "--yes")

    assert result.status == 0
    assert queues.depth(queues.dlq_url) == 0


def test_redrive_on_an_endpoint_without_move_tasks_points_to_replay(
    queues: Queues, sluice: Callable[..., Result]
) -> None:
    queues.dead_letter([event_body()])

    for argv in ([], ["--status"], ["--cancel"]):
        result = sluice("dlq", "redrive", "-q", queues.dlq_url, *argv)

        assert result.status == 2
        assert result.err.strip() == (
            "error: this SQS endpoint does not support native redrive (StartMessageMoveTask); "
            "use 'sluice dlq replay' instead"
        )
    assert queues.depth(queues.dlq_url) == 1


@pytest.mark.parametrize("command", ["stats", "peek", "replay", "purge", "redrive"])
def test_empty_dlq_is_nothing_to_do(queues: Queues, sluice: Callable[..., Result], command: str) -> None:
    result = sluice("dlq", command, "-q", queues.dlq_url, *(["--yes"] if command == "purge" else []))

    assert result.status == 0
    assert result.err.strip().startswith("nothing to do: ")


def test_unknown_queue_and_wrong_region_are_one_line(
    queues: Queues, sluice: Callable[..., Result], unique_name: str
) -> None:
    unknown = sluice("dlq", "replay", "-q", f"{unique_name}-nope")
    wrong_region = sluice("dlq", "stats", "-q", queues.dlq_url, "--region", "eu-west-1")

    assert (unknown.status, wrong_region.status) == (2, 2)
    assert (
        unknown.err.strip() == f"error: queue '{unique_name}-nope' does not exist at this endpoint in region us-east-1"
    )
    assert wrong_region.err.strip() == (
        f"error: queue '{queues.dlq_url}' does not exist at this endpoint in region eu-west-1"
    )


def test_missing_credentials_are_one_line(queues: Queues, sqs_endpoint: str, tmp_path: Path) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") or name in {"AWS_REGION", "AWS_DEFAULT_REGION"}
    }
    environment |= {
        "AWS_ENDPOINT_URL": sqs_endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookup for credentials
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    result = subprocess.run(
        [SLUICE, "dlq", "stats", "-q", queues.dlq_url], env=environment, capture_output=True, text=True, check=False
    )

    assert result.returncode == 2
    assert result.stderr.strip() == "error: no usable AWS credentials for the queue: Unable to locate credentials"
    assert result.stdout == ""


def test_unreachable_endpoint_is_one_line_and_transient(sluice: Callable[..., Result]) -> None:
    result = sluice("dlq", "stats", "-q", "http://127.0.0.1:9/123456789012/dlq", "--endpoint-url", "http://127.0.0.1:9")

    assert result.status == 1
    assert result.err.startswith("error: queue endpoint unreachable: Could not connect to the endpoint URL")
    assert len(result.err.strip().splitlines()) == 1
