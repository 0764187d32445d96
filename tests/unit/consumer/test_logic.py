"""consume_batch over in-memory fakes: exact outcomes and exact batchItemFailures for every path."""

from __future__ import annotations

import json
import uuid

import pytest

from sluice_consumer.deadline import Deadline
from sluice_consumer.logic import Disposition, consume_batch
from sluice_consumer.records import SqsBatch
from sluice_shared.catalog import default_registry
from sluice_shared.errors import DatabaseUnavailableError
from sluice_shared.registry import UnknownEventTypePolicy
from tests.support.events import load_event
from tests.support.factories import event_body
from tests.unit.consumer.fakes import FakeDeadLetterSink, FakeEventStore
from tests.unit.consumer.sqs_events import sqs_event


def consume(event, store=None, sink=None, **kwargs):
    store = store if store is not None else FakeEventStore()
    sink = sink if sink is not None else FakeDeadLetterSink()
    kwargs.setdefault("registry", default_registry())
    return consume_batch(SqsBatch.from_event(event), store=store, dead_letters=sink, **kwargs)


def dispositions(result):
    return [outcome.disposition for outcome in result.outcomes]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_valid_batch_is_stored_in_one_bulk_write_and_reports_no_failures() -> None:
    store = FakeEventStore()

    result = consume(sqs_event([event_body() for _ in range(3)]), store=store)

    assert result.response() == {"batchItemFailures": []}
    assert dispositions(result) == [Disposition.STORED] * 3
    assert store.calls == [["m0", "m1", "m2"]]
    assert len(store.rows) == 3


def test_row_maps_the_envelope_and_the_sqs_record() -> None:
    store = FakeEventStore()
    event_id = uuid.uuid4()
    body = event_body(event_id=str(event_id), payload={"order_id": "o-9", "reason": "late"})

    consume(sqs_event([body], receive_count=3), store=store)

    row = store.rows[event_id]
    assert (row.event_type, row.source, row.schema_version, row.sqs_message_id, row.receive_count) == (
        "order.cancelled",
        "tests",
        1,
        "m0",
        3,
    )
    assert json.loads(row.payload) == {"order_id": "o-9", "reason": "late"}
    assert row.occurred_at.isoformat() == "2026-11-26T12:00:00+00:00"


def test_duplicate_within_a_batch_is_stored_once() -> None:
    body = event_body()
    store = FakeEventStore()

    result = consume(sqs_event([body, event_body(), body]), store=store)

    assert dispositions(result) == [Disposition.STORED, Disposition.STORED, Disposition.DUPLICATE]
    assert result.response() == {"batchItemFailures": []}
    assert len(store.rows) == 2


def test_redelivered_event_is_a_duplicate_in_a_later_batch() -> None:
    store = FakeEventStore()
    body = event_body()
    consume(sqs_event([body]), store=store)

    result = consume(sqs_event([body, event_body()]), store=store)

    assert dispositions(result) == [Disposition.DUPLICATE, Disposition.STORED]


def test_poison_message_is_dead_lettered_and_its_neighbours_stored() -> None:
    sink = FakeDeadLetterSink()
    store = FakeEventStore()

    result = consume(sqs_event([event_body(), "{not json", event_body()]), store=store, sink=sink)

    assert result.response() == {"batchItemFailures": []}
    assert dispositions(result) == [Disposition.STORED, Disposition.DEAD_LETTERED, Disposition.STORED]
    assert sink.sent_ids == ["m1"]
    assert sink.sent_codes == ["malformed_json"]
    assert store.calls == [["m0", "m2"]]


def test_aws_sample_event_bodies_are_dead_lettered_as_malformed() -> None:
    sink = FakeDeadLetterSink()

    result = consume(load_event("sqs_standard"), sink=sink)

    assert result.response() == {"batchItemFailures": []}
    assert sink.sent_ids == ["059f36b4-87a3-44ab-83d2-661975830a7d", "2e1424d4-f796-459a-8184-9c92662be6da"]
    assert sink.sent_codes == ["malformed_json", "malformed_json"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (event_body(occurred_at="2026-11-26T12:00:00"), "invalid_message", "occurred_at"),
        (event_body(extra="x"), "invalid_message", "extra"),
        (event_body(payload={"order_id": "o\u0000", "reason": "r"}), "invalid_message", "payload.order_id"),
        (event_body(payload={"order_id": 7, "reason": "r"}), "invalid_message", "payload.order_id"),
        (event_body(payload=[1]), "invalid_message", "payload"),
    ],
)
def test_contract_violation_is_dead_lettered_naming_the_field(body: str, code: str, field: str) -> None:
    sink = FakeDeadLetterSink()

    result = consume(sqs_event([body]), sink=sink)

    assert result.response() == {"batchItemFailures": []}
    assert [letter.error.code for letter in sink.sent] == [code]
    assert sink.sent[0].error.field == field  # type: ignore[attr-defined]


def test_oversized_body_is_dead_lettered_as_too_large() -> None:
    sink = FakeDeadLetterSink()
    body = event_body(payload={"order_id": "o-1", "reason": "x" * 2000})

    consume(sqs_event([body]), sink=sink, max_body_bytes=1000)

    assert sink.sent_codes == ["too_large"]


def test_unknown_event_type_is_dead_lettered_when_the_policy_rejects_it() -> None:
    sink = FakeDeadLetterSink()
    registry = default_registry(unknown_event_types=UnknownEventTypePolicy.REJECT)

    consume(sqs_event([event_body(event_type="shipment.sent")]), sink=sink, registry=registry)

    assert sink.sent_codes == ["unknown_event_type"]


def test_row_refused_by_the_database_is_isolated_by_bisection() -> None:
    bad = uuid.uuid4()
    bodies = [event_body() for _ in range(8)]
    bodies[5] = event_body(event_id=str(bad))
    store = FakeEventStore(bad_ids={bad})
    sink = FakeDeadLetterSink()

    result = consume(sqs_event(bodies), store=store, sink=sink)

    assert result.response() == {"batchItemFailures": []}
    assert dispositions(result) == [Disposition.STORED] * 5 + [Disposition.DEAD_LETTERED] + [Disposition.STORED] * 2
    assert sink.sent_ids == ["m5"]
    assert sink.sent_codes == ["constraint_violation"]
    assert store.calls == [
        ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"],
        ["m0", "m1", "m2", "m3"],
        ["m4", "m5", "m6", "m7"],
        ["m4", "m5"],
        ["m4"],
        ["m5"],
        ["m6", "m7"],
    ]


def test_transient_database_failure_retries_every_unwritten_message() -> None:
    store = FakeEventStore(failure=DatabaseUnavailableError("connection refused"))
    sink = FakeDeadLetterSink()

    result = consume(sqs_event([event_body(), "oops", event_body()]), store=store, sink=sink)

    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m2"}]}
    assert sink.sent_ids == ["m1"]
    assert result.outcomes[0].error is store.failure


def test_failed_dead_letter_send_is_reported_as_a_batch_item_failure() -> None:
    sink = FakeDeadLetterSink(refuse={"m1"})

    result = consume(sqs_event([event_body(), "oops", "also bad"]), sink=sink)

    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert sink.sent_ids == ["m2"]
    assert result.outcomes[1].error is not None
    assert result.outcomes[1].error.code == "malformed_json"
    assert result.outcomes[1].dead_letter_error is sink.error


def test_fifo_group_after_a_failed_message_is_retried_to_keep_its_order() -> None:
    sink = FakeDeadLetterSink(refuse={"m1"})
    bodies = [event_body(), "bad", event_body(), event_body(), "worse"]

    result = consume(sqs_event(bodies, groups=["a", "a", "b", "a", "a"]), sink=sink)

    assert result.fifo
    assert result.response() == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]
    }
    assert dispositions(result) == [
        Disposition.STORED,
        Disposition.RETRY,
        Disposition.STORED,
        Disposition.RETRY,
        Disposition.RETRY,
    ]
    assert result.outcomes[3].error is not None
    assert result.outcomes[3].error.code == "fifo_group_held_back"
    # m4 is held back before it is dead-lettered: it will reach the DLQ after m1, in order.
    assert sink.sent_ids == []


def test_fifo_dead_lettered_message_does_not_hold_back_its_group() -> None:
    sink = FakeDeadLetterSink()

    result = consume(sqs_event([event_body(), "bad", event_body()], groups=["a", "a", "a"]), sink=sink)

    assert result.response() == {"batchItemFailures": []}
    assert sink.sent_ids == ["m1"]


def test_fifo_transient_failure_holds_back_later_messages_of_the_group() -> None:
    store = FakeEventStore(failure=DatabaseUnavailableError("gone"))
    sink = FakeDeadLetterSink()

    result = consume(sqs_event([event_body(), "bad", event_body()], groups=["a", "a", "b"]), store=store, sink=sink)

    assert result.response() == {
        "batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    }
    assert sink.sent_ids == []


def test_expired_deadline_retries_everything_without_touching_the_database() -> None:
    store = FakeEventStore()
    sink = FakeDeadLetterSink()
    clock = FakeClock()
    deadline = Deadline(at=1.0, margin_s=2.0, clock=clock)

    result = consume(sqs_event([event_body(), "bad"]), store=store, sink=sink, deadline=deadline)

    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert store.calls == []
    assert sink.sent == []
    assert {outcome.error.code for outcome in result.outcomes if outcome.error} == {"deadline"}


def test_deadline_reached_during_isolation_retries_the_unwritten_parts() -> None:
    clock = FakeClock()
    bad = uuid.uuid4()
    bodies = [event_body() for _ in range(4)]
    bodies[0] = event_body(event_id=str(bad))

    def tick() -> None:
        clock.now += 1.0

    store = FakeEventStore(bad_ids={bad}, on_store=tick)
    sink = FakeDeadLetterSink()
    deadline = Deadline(at=3.5, margin_s=0.0, clock=clock)

    result = consume(sqs_event(bodies), store=store, sink=sink, deadline=deadline)

    # Calls: all four (fails, t=1), first half (fails, t=2), m0 alone (fails, t=3); then the deadline is near.
    assert store.calls == [["m0", "m1", "m2", "m3"], ["m0", "m1"], ["m0"], ["m1"]]
    assert dispositions(result) == [Disposition.RETRY, Disposition.STORED, Disposition.RETRY, Disposition.RETRY]
    assert result.response() == {
        "batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]
    }
    assert sink.sent == []


def test_counts_and_error_codes_summarise_the_batch() -> None:
    sink = FakeDeadLetterSink()
    body = event_body()

    result = consume(sqs_event([body, body, "x", event_body()]), sink=sink)

    assert result.counts[Disposition.STORED] == 2
    assert result.counts[Disposition.DUPLICATE] == 1
    assert result.counts[Disposition.DEAD_LETTERED] == 1
    assert result.error_codes(Disposition.DEAD_LETTERED) == {"malformed_json": 1}


def test_fifo_dead_letters_of_one_group_are_sent_one_per_request_in_order() -> None:
    class RecordingSink(FakeDeadLetterSink):
        def __init__(self) -> None:
            super().__init__()
            self.requests: list[list[str]] = []

        def send(self, letters):  # type: ignore[no-untyped-def]
            self.requests.append([letter.record.message_id for letter in letters])
            return super().send(letters)

    sink = RecordingSink()

    result = consume(sqs_event(["bad", "worse", "x", event_body()], groups=["a", "a", "b", "a"]), sink=sink)

    assert result.response() == {"batchItemFailures": []}
    assert sink.requests == [["m0", "m2"], ["m1"]]
