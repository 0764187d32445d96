"""Reading AWS's documented SQS event samples into the consumer's typed view."""

from __future__ import annotations

import pytest

from sluice_consumer.records import InvalidEventError, SqsBatch
from tests.support.events import load_event


def test_standard_sample_event_is_read_field_by_field() -> None:
    batch = SqsBatch.from_event(load_event("sqs_standard"))

    first = batch.records[0]
    assert len(batch) == 2
    assert not batch.fifo
    assert first.message_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert first.body == "Test message."
    assert first.receive_count == 1
    assert first.group_id is None
    assert first.message_attributes["myAttribute"]["stringValue"] == "myValue"
    assert first.queue_name == "my-queue"
    assert batch.source_queue == "arn:aws:sqs:us-east-2:123456789012:my-queue"


def test_fifo_sample_event_is_a_fifo_batch_with_group_ids() -> None:
    batch = SqsBatch.from_event(load_event("sqs_fifo"))

    assert batch.fifo
    assert [record.group_id for record in batch] == ["1"]


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, {"Records": [{"body": "x"}]}])
def test_event_that_is_not_an_sqs_event_is_a_configuration_error(event: dict[str, object]) -> None:
    with pytest.raises(InvalidEventError, match="SQS"):
        SqsBatch.from_event(event)


def test_record_without_a_body_reads_as_empty_text() -> None:
    event = load_event("sqs_standard")
    del event["Records"][0]["body"]
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "not a number"

    record = SqsBatch.from_event(event).records[0]

    assert (record.body, record.receive_count) == ("", 1)
