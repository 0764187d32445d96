from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from sluice_cli.dlq.archive import JsonLinesArchive
from sluice_cli.dlq.filters import MessageFilter
from sluice_cli.dlq.replay import NoTargetError, ReplayOptions, ReplayReport, SourceQueues, replay
from sluice_shared.dead_letter import ATTRIBUTE_PREFIX
from sluice_shared.errors import QueueNotFoundError, QueueUnavailableError
from tests.unit.cli.dlq.fakes import NOW, FakeFinder, FakeQueue, FakeSender, dead_letter, queue_info

if TYPE_CHECKING:
    from pathlib import Path

    from sluice_cli.dlq.messages import DeadLetter
    from sluice_cli.dlq.queue import QueueInfo
    from sluice_cli.dlq.rate import TokenBucket

DLQ = queue_info("events-dlq")
SOURCE = queue_info("events")
OTHER = queue_info("other")


class Harness:
    """A DLQ, its source queues and one fake sender per target, sharing one journal."""

    def __init__(self, messages: list[DeadLetter], *, dlq: QueueInfo = DLQ, sources: tuple[str, ...] = ()) -> None:
        self.journal: list[tuple[str, str]] = []
        self.dlq = FakeQueue(dlq, messages, journal=self.journal)
        known = {info.name: info for info in (dlq, SOURCE, OTHER, queue_info("events.fifo"))}
        self.finder = FakeFinder(known, sources=list(sources))
        self.senders: dict[str, FakeSender] = {}
        self.fail: set[str] = set()

    def sender_for(self, target: QueueInfo) -> FakeSender:
        return self.senders.setdefault(target.name, FakeSender(target, self.journal, fail=self.fail))

    def run(
        self,
        *,
        to: str | None = None,
        options: ReplayOptions | None = None,
        archive: JsonLinesArchive | None = None,
        rate: TokenBucket | None = None,
    ) -> ReplayReport:
        return replay(
            self.dlq,
            targets=SourceQueues(self.finder, self.dlq.info, to=to),
            sender_for=self.sender_for,
            options=options,
            archive=archive,
            rate=rate,
            now=lambda: NOW + timedelta(hours=1),
        )

    def sent_bodies(self, queue: str) -> list[str]:
        return [message.body for message in self.senders[queue].sent] if queue in self.senders else []


def test_every_message_is_sent_to_its_source_then_deleted_from_the_dlq() -> None:
    # given
    messages = [dead_letter() for _ in range(12)]
    harness = Harness(messages)

    # when
    report = harness.run()

    # then
    assert (report.scanned, report.replayed, report.skipped, report.failed) == (12, 12, 0, 0)
    assert report.ok
    assert harness.sent_bodies("events") == [message.body for message in messages]
    assert harness.dlq.remaining_ids() == []
    for message in messages:
        sent = harness.journal.index(("send", message.message_id))
        deleted = harness.journal.index(("delete", message.message_id))
        assert sent < deleted


def test_replayed_message_keeps_its_attributes_but_not_the_dead_letter_reason() -> None:
    harness = Harness([dead_letter(attributes={"trace": {"DataType": "String", "StringValue": "abc"}})])

    harness.run()

    (sent,) = harness.senders["events"].sent
    assert sent.attributes == {"trace": {"DataType": "String", "StringValue": "abc"}}
    assert not any(name.startswith(ATTRIBUTE_PREFIX) for name in sent.attributes)
    assert (sent.group_id, sent.deduplication_id) == (None, None)


def test_failed_sends_stay_in_the_dlq_visible_again_and_are_reported() -> None:
    # given
    messages = [dead_letter() for _ in range(5)]
    harness = Harness(messages)
    harness.fail.update({messages[1].message_id, messages[3].message_id})

    # when
    report = harness.run()

    # then
    assert (report.replayed, report.failed) == (3, 2)
    assert not report.ok
    assert [failure.message_id for failure in report.failures] == [messages[1].message_id, messages[3].message_id]
    assert report.failures[0].reason == "throttled"
    assert harness.dlq.remaining_ids() == [messages[1].message_id, messages[3].message_id]
    assert harness.dlq.visible_ids() == [messages[1].message_id, messages[3].message_id]
    assert ("delete", messages[1].message_id) not in harness.journal


def test_messages_skipped_by_the_filter_are_untouched_and_visible_again() -> None:
    created = [dead_letter(event_type="order.created") for _ in range(3)]
    cancelled = [dead_letter(event_type="order.cancelled") for _ in range(4)]
    harness = Harness([created[0], cancelled[0], *cancelled[1:], *created[1:]])

    report = harness.run(options=ReplayOptions(message_filter=MessageFilter.build(event_types=["order.created"])))

    assert (report.scanned, report.replayed, report.skipped, report.failed) == (7, 3, 4, 0)
    assert sorted(harness.dlq.visible_ids()) == sorted(message.message_id for message in cancelled)
    assert harness.dlq.depth().in_flight == 0


def test_filters_by_error_type_age_and_body_expression_combine() -> None:
    old_bad_web = dead_letter(sent_at=NOW - timedelta(days=3), source="events", payload={"channel": "web"})
    old_bad_app = dead_letter(sent_at=NOW - timedelta(days=3), payload={"channel": "app"})
    new_bad_web = dead_letter(sent_at=NOW, payload={"channel": "web"})
    redriven_web = dead_letter(sent_at=NOW - timedelta(days=3), reason=False, payload={"channel": "web"})
    harness = Harness([old_bad_web, old_bad_app, new_bad_web, redriven_web], sources=("events",))
    selector = MessageFilter.build(error_types=["invalid_message"], older_than="1d", where="payload.channel == 'web'")

    report = harness.run(options=ReplayOptions(message_filter=selector))

    assert (report.replayed, report.skipped) == (1, 3)
    assert harness.sent_bodies("events") == [old_bad_web.body]


def test_limit_counts_selected_messages_only() -> None:
    messages = [dead_letter(event_type="order.created" if i % 2 else "order.cancelled") for i in range(25)]
    harness = Harness(messages)

    report = harness.run(
        options=ReplayOptions(message_filter=MessageFilter.build(event_types=["order.created"]), limit=7)
    )

    assert report.replayed == 7
    assert harness.sent_bodies("events") == [m.body for m in messages if '"order.created"' in m.body][:7]
    assert len(harness.dlq.remaining_ids()) == 25 - 7
    assert harness.dlq.depth().in_flight == 0


def test_dry_run_moves_nothing_and_counts_what_would_move() -> None:
    messages = [dead_letter() for _ in range(4)] + [dead_letter(event_type="order.created")]
    harness = Harness(messages)

    report = harness.run(
        options=ReplayOptions(message_filter=MessageFilter.build(event_types=["order.cancelled"]), dry_run=True)
    )

    assert (report.would_replay, report.replayed, report.skipped) == (4, 0, 1)
    assert report.ok
    assert harness.senders == {}
    assert sorted(harness.dlq.visible_ids()) == sorted(message.message_id for message in messages)


def test_to_overrides_the_recorded_source_queue() -> None:
    harness = Harness([dead_letter(source="events")])

    report = harness.run(to="other")

    assert report.by_target == {OTHER.url: 1}
    assert harness.sent_bodies("other") != []


def test_message_without_reason_goes_to_the_dlq_s_only_source_queue() -> None:
    harness = Harness([dead_letter(reason=False)], sources=("events",))

    report = harness.run()

    assert report.replayed == 1
    assert report.by_target == {SOURCE.url: 1}


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ((), "no queue names this DLQ in its redrive policy; pass --to QUEUE"),
        (("events", "other"), "2 queues use this DLQ (events, other); pass --to QUEUE"),
    ],
)
def test_message_without_any_known_source_fails_and_stays(sources: tuple[str, ...], expected: str) -> None:
    message = dead_letter(reason=False)
    harness = Harness([message], sources=sources)

    report = harness.run()

    assert report.failed == 1
    assert report.failures[0].reason.endswith(expected)
    assert harness.dlq.visible_ids() == [message.message_id]


def test_source_queue_that_no_longer_exists_fails_each_of_its_messages() -> None:
    messages = [dead_letter(source="gone"), dead_letter(source="events"), dead_letter(source="gone")]
    harness = Harness(messages)

    report = harness.run()

    assert (report.replayed, report.failed) == (1, 2)
    assert {failure.reason for failure in report.failures} == {
        "queue 'arn:aws:sqs:us-east-1:123456789012:gone' does not exist"
    }
    assert harness.finder.lookups.count(queue_info("gone").arn) == 1


def test_unknown_to_queue_fails_before_anything_moves() -> None:
    harness = Harness([dead_letter()])

    with pytest.raises(QueueNotFoundError):
        harness.run(to="nope")

    assert harness.journal == []


def test_replaying_the_dlq_into_itself_is_refused() -> None:
    harness = Harness([dead_letter()])

    with pytest.raises(NoTargetError, match="into itself"):
        harness.run(to="events-dlq")


def test_queue_error_stops_the_run_and_is_reported_not_raised() -> None:
    harness = Harness([dead_letter()])
    harness.dlq.fail_receive = QueueUnavailableError("endpoint unreachable")

    report = harness.run()

    assert isinstance(report.error, QueueUnavailableError)
    assert not report.ok


def test_delete_refused_after_a_confirmed_send_is_counted_as_still_in_the_dlq() -> None:
    messages = [dead_letter(), dead_letter()]
    harness = Harness(messages)
    harness.dlq.refuse_delete.add(messages[0].message_id)

    report = harness.run()

    assert (report.replayed, report.not_deleted, report.failed) == (1, 1, 0)
    assert not report.ok
    assert harness.dlq.visible_ids() == [messages[0].message_id]


def test_archive_lines_are_written_before_the_send(tmp_path: Path) -> None:
    # given
    messages = [dead_letter() for _ in range(3)]
    harness = Harness(messages)
    path = tmp_path / "replayed.jsonl"
    seen_at_send: list[int] = []
    original = FakeSender.send

    def send_checking_archive(self: FakeSender, batch, *, on_sent=None):  # type: ignore[no-untyped-def]
        seen_at_send.append(len(path.read_text(encoding="utf-8").splitlines()))
        return original(self, batch, on_sent=on_sent)

    # when
    with pytest.MonkeyPatch.context() as patch, JsonLinesArchive(path) as archive:
        patch.setattr(FakeSender, "send", send_checking_archive)
        harness.run(archive=archive)

    # then
    assert seen_at_send == [3]
    assert path.read_text(encoding="utf-8").splitlines() == [message.body for message in messages]


class TestFifo:
    def test_groups_keep_their_order_and_get_fresh_deduplication_ids(self) -> None:
        messages = [
            dead_letter(group_id=group, source="events.fifo", payload={"n": n}) for n in range(3) for group in "ab"
        ]
        harness = Harness(messages, dlq=queue_info("events-dlq.fifo"))

        report = harness.run()

        assert report.replayed == 6
        sent = harness.senders["events.fifo"].sent
        for group in "ab":
            assert [json.loads(m.body)["payload"]["n"] for m in sent if m.group_id == group] == [0, 1, 2]
        dedup_ids = [message.deduplication_id for message in sent]
        assert None not in dedup_ids
        assert len(set(dedup_ids)) == 6

    def test_a_later_message_is_sent_only_after_the_earlier_one_of_its_group_was_confirmed(self) -> None:
        first, second = (dead_letter(group_id="g", source="events.fifo") for _ in range(2))
        harness = Harness([first, second], dlq=queue_info("events-dlq.fifo"))

        harness.run()

        assert harness.journal.index(("delete", first.message_id)) < harness.journal.index(("send", second.message_id))

    def test_failed_send_holds_back_the_rest_of_its_group_only(self) -> None:
        a1, b1, a2, b2, a3 = (dead_letter(group_id=g, source="events.fifo") for g in "abab" + "a")
        harness = Harness([a1, b1, a2, b2, a3], dlq=queue_info("events-dlq.fifo"))
        harness.fail.add(a2.message_id)

        report = harness.run()

        assert (report.replayed, report.failed, report.held_back) == (3, 1, 1)
        assert [m.key for m in harness.senders["events.fifo"].sent] == [a1.message_id, b1.message_id, b2.message_id]
        assert harness.dlq.visible_ids() == [a2.message_id, a3.message_id]

    def test_message_skipped_by_the_filter_holds_back_its_group(self) -> None:
        a1 = dead_letter(group_id="a", source="events.fifo", event_type="order.created")
        a2 = dead_letter(group_id="a", source="events.fifo")
        b1 = dead_letter(group_id="b", source="events.fifo")
        harness = Harness([a1, a2, b1], dlq=queue_info("events-dlq.fifo"))

        report = harness.run(options=ReplayOptions(message_filter=MessageFilter.build(event_types=["order.cancelled"])))

        assert (report.replayed, report.skipped, report.held_back) == (1, 1, 1)
        assert [m.key for m in harness.senders["events.fifo"].sent] == [b1.message_id]
