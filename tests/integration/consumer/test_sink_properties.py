"""Table sinks are order-independent: whatever SQS does to the messages, the tables end as version order makes them.

Hypothesis generates a short history of events over a small key space (distinct versions, ``occurred_at``, per
key), then a delivery: every event once in any order, plus duplicates (redeliveries with a receive count of 2 or
3, DLQ replays with a receive count of 1), split into batches of random sizes. The real handler consumes the
batches from a simulated queue; a message it reports as a batch item failure goes back to the end of the queue
with its receive count one higher (its visibility timeout expires after the messages already visible), until
the queue is empty. Then each table must equal what applying the events one at a time, in version order, gives
(the models below, written plainly), and every event must be recorded once in ``events``, except an update
whose row never comes: it is retried until the queue's receive limit, then dead-lettered as ``missing_row``.

The semantics the three properties pin down:

1. **Upsert and delete of whole rows** (``prop_items``): a full-row last-writer-wins register per key; the
   newest event decides, a delete leaves a tombstone so an older upsert arriving later stays out, a newer upsert
   brings the row back.
2. **Upsert plus updates of disjoint column groups** (``prop_profiles``, no deletes): each sink guards its own
   columns with its own version column, so each column group is its own last-writer-wins register. An update
   whose row does not exist yet is retried (the default ``on_missing``) and applies once the row exists.
3. **Insert mode** (``prop_log``, no unique key): each event is appended at most once (here: exactly once), also
   when its batch is rolled back and written again because an update in it found no row.

Known limit, deliberately outside these properties: a partial update and a delete of the same key can depend on
the delivery order (an update that arrives before an older delete was seen is applied to a row the delete then
keeps, or not, by its own version column).

Two events for one key inside one batch are collapsed to the newest by the statement itself; the explicit
examples put whole histories into one batch, and the generated ones do it often (``--hypothesis-show-statistics``).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import cycle
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from psycopg import sql
from pydantic import SecretStr

from sluice_cli.context import LocalContext
from sluice_consumer import runtime
from sluice_consumer.handler import lambda_handler
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.roles import configure_writer_login, writer_conninfo
from sluice_consumer.settings import ConsumerSettings
from tests.support.factories import event_dict
from tests.support.sink_property_registry import REGISTRY, SINK_TABLES, TABLES
from tests.unit.consumer.fakes import FakeDeadLetterSink
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from tests.support.postgres import DatabaseFactory

BASE: Final = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEYS: Final = ("k1", "k2", "k3")
MAX_EVENTS: Final = 10
MAX_BATCH: Final = 12
# A batch the handler keeps failing would loop forever: no history here needs more than this many batches.
MAX_BATCHES: Final = 200
# Each example costs a handful of real handler invocations (~10-40 ms each on these shared machines).
EXAMPLES: Final = 20

TEXT: Final = st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
SMALL_INT: Final = st.integers(-1000, 1000)
PROFILE_COLUMNS: Final = ("name", "name_version", "score", "score_version", "badge", "badge_version")
PROFILES: Final = sql.SQL("SELECT profile_id, {} FROM prop_profiles").format(
    sql.SQL(", ").join(map(sql.Identifier, PROFILE_COLUMNS))
)
# Which column group each profile event type writes.
PROFILE_GROUP: Final = {"profile.named": "name", "profile.scored": "score", "profile.badged": "badge"}


@dataclass(frozen=True)
class Event:
    """One event of a history: its key and version (microseconds after BASE, distinct per key)."""

    event_id: uuid.UUID
    event_type: str
    key: str
    version: int
    payload: dict[str, Any]

    @property
    def occurred_at(self) -> datetime:
        return BASE + timedelta(microseconds=self.version)

    def body(self) -> str:
        return json.dumps(
            event_dict(
                event_id=str(self.event_id),
                event_type=self.event_type,
                occurred_at=self.occurred_at.isoformat(),
                payload=self.payload,
            )
        )


@dataclass(frozen=True)
class Plan:
    """A history and how SQS delivers it: ``(event index, receive count)`` in queue order, and batch sizes."""

    events: tuple[Event, ...]
    sent: tuple[tuple[int, int], ...]
    batch_sizes: tuple[int, ...]


# --- the models: the events applied one at a time, oldest version first ------------------------------------


def items_in_version_order(events: Sequence[Event]) -> dict[str, tuple[Any, ...]]:
    """``item.put`` writes the whole row, ``item.removed`` removes it: the newest event of a key decides."""
    table: dict[str, tuple[Any, ...]] = {}
    for item in sorted(events, key=lambda e: e.version):
        if item.event_type == "item.put":
            table[item.key] = (item.payload["label"], item.payload["quantity"], item.occurred_at)
        else:
            table.pop(item.key, None)
    return table


def profiles_in_version_order(events: Sequence[Event]) -> dict[str, tuple[Any, ...]]:
    """``profile.named`` creates the row or sets its name; ``profile.scored`` / ``profile.badged`` set their own
    column. An update whose row does not exist yet waits (the consumer retries it) and applies when the row is
    created. So each column group ends with the value of its newest event."""
    table: dict[str, dict[str, Any]] = {}
    waiting: dict[str, list[Event]] = {}
    for profile in sorted((e for e in events if e.event_type in PROFILE_GROUP), key=lambda e: e.version):
        if profile.event_type == "profile.named":
            row = table.setdefault(profile.key, dict.fromkeys(PROFILE_COLUMNS))
            for update in [profile, *waiting.pop(profile.key, [])]:
                group = PROFILE_GROUP[update.event_type]
                row[group], row[f"{group}_version"] = update.payload[group], update.occurred_at
        elif profile.key in table:
            group = PROFILE_GROUP[profile.event_type]
            table[profile.key][group], table[profile.key][f"{group}_version"] = (
                profile.payload[group],
                profile.occurred_at,
            )
        else:
            waiting.setdefault(profile.key, []).append(profile)
    return {key: tuple(row[column] for column in PROFILE_COLUMNS) for key, row in table.items()}


def updates_whose_row_never_comes(events: Sequence[Event]) -> set[uuid.UUID]:
    """Profile updates of a key no ``profile.named`` creates: retried to the receive limit, then dead-lettered."""
    named = {e.key for e in events if e.event_type == "profile.named"}
    return {e.event_id for e in events if e.event_type in {"profile.scored", "profile.badged"} and e.key not in named}


def log_applied_once(events: Sequence[Event]) -> Counter[tuple[Any, ...]]:
    """Every ``entry.logged`` event appended exactly once."""
    return Counter(
        (entry.event_id, entry.payload["item"], entry.payload["amount"])
        for entry in events
        if entry.event_type == "entry.logged"
    )


# --- what Hypothesis generates ------------------------------------------------------------------------------


def item_changes(key: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    put = st.builds(lambda label, quantity: {"item_id": key, "label": label, "quantity": quantity}, TEXT, SMALL_INT)
    return st.tuples(st.just("item.put"), put) | st.just(("item.removed", {"item_id": key}))


def profile_changes(key: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.one_of(
        st.tuples(st.just("profile.named"), st.builds(lambda name: {"profile_id": key, "name": name}, TEXT)),
        st.tuples(st.just("profile.scored"), st.builds(lambda score: {"profile_id": key, "score": score}, SMALL_INT)),
        st.tuples(st.just("profile.badged"), st.builds(lambda badge: {"profile_id": key, "badge": badge}, TEXT)),
    )


def logged_or_profile_changes(key: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    logged = st.builds(lambda amount: ("entry.logged", {"item": key, "amount": amount}), SMALL_INT)
    return logged | profile_changes(key)


@st.composite
def plans(draw: st.DrawFn, changes: Callable[[str], st.SearchStrategy[tuple[str, dict[str, Any]]]]) -> Plan:
    # (key, version) pairs are unique: distinct versions per key, ties across keys allowed.
    keyed = draw(
        st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 30)), min_size=1, max_size=MAX_EVENTS, unique=True)
    )
    events = []
    for index, (key, version) in enumerate(keyed):
        event_type, payload = draw(changes(key))
        events.append(Event(uuid.UUID(int=index + 1, version=4), event_type, key, version, payload))
    # Receive count 1: a DLQ replay (a new SQS message, same event); 2 or 3: a redelivery of a message.
    copies = draw(st.lists(st.tuples(st.integers(0, len(events) - 1), st.sampled_from((1, 2, 3))), max_size=6))
    sent = draw(st.permutations([*((index, 1) for index in range(len(events))), *copies]))
    sizes = draw(st.lists(st.integers(1, MAX_BATCH), min_size=1, max_size=6))
    return Plan(tuple(events), tuple(sent), tuple(sizes))


# --- the consumer, a simulated queue, and the tables ---------------------------------------------------------


@pytest.fixture(scope="module")
def property_database(database_factory: DatabaseFactory) -> tuple[str, str]:
    """One migrated database for the module, with the property tables (emptied before every example): the
    owner's URL, and the URL of ``sluice_writer`` (the consumer's role, as deployed) granted what sinks do."""
    url = database_factory.create()
    apply_migrations(url)
    password = secrets.token_urlsafe(24)
    configure_writer_login(url, password=password)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLES)
        conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO sluice_writer").format(_tables()))
    return url, writer_conninfo(url, password)


class Consumer:
    """The real handler on the property registry, fed from a simulated SQS queue."""

    def __init__(self, db: psycopg.Connection[Any], dead_letters: FakeDeadLetterSink) -> None:
        self.db = db
        self.dead_letters = dead_letters

    def reset(self) -> None:
        self.db.execute(sql.SQL("TRUNCATE events, sluice_sink_tombstones, {}").format(_tables()))
        self.dead_letters.sent.clear()

    def deliver(self, plan: Plan) -> None:
        """Consume ``plan.sent`` in batches until the queue is empty; failures go back to its end."""
        queue = deque((plan.events[index], receive_count) for index, receive_count in plan.sent)
        sizes = cycle(plan.batch_sizes)
        for _ in range(MAX_BATCHES):
            if not queue:
                return
            batch = [queue.popleft() for _ in range(min(next(sizes), len(queue)))]
            _note_same_key(batch)
            response = lambda_handler(_sqs_batch(batch), LocalContext())
            failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
            queue.extend((sent, count + 1) for index, (sent, count) in enumerate(batch) if f"m{index}" in failed)
        pytest.fail(f"the queue still holds {len(queue)} messages after {MAX_BATCHES} batches")

    def rows(self, query: str | sql.Composed) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.db.execute(query)]

    def assert_recorded_once_or_dead_lettered(self, plan: Plan) -> None:
        """Every event is recorded in ``events`` once, but the updates whose row never came are dead-lettered."""
        orphans = updates_whose_row_never_comes(plan.events)
        assert all(code == "missing_row" for code in self.dead_letters.sent_codes)
        assert {uuid.UUID(json.loads(letter.record.body)["event_id"]) for letter in self.dead_letters.sent} == orphans
        recorded = self.rows("SELECT event_id FROM events")
        assert sorted(recorded) == sorted((e.event_id,) for e in plan.events if e.event_id not in orphans)


def _tables() -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, SINK_TABLES))


def _sqs_batch(batch: Sequence[tuple[Event, int]]) -> dict[str, Any]:
    sqs = sqs_event([sent.body() for sent, _ in batch])
    for record, (_, receive_count) in zip(sqs["Records"], batch, strict=True):
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return sqs


def _note_same_key(batch: Sequence[tuple[Event, int]]) -> None:
    versions = {(sent.event_type.split(".")[0], sent.key, sent.version) for sent, _ in batch}
    keys = Counter(key[:2] for key in versions)
    if any(count > 1 for count in keys.values()):
        event("a batch holds two events of one key")


@pytest.fixture
def consumer(property_database: tuple[str, str]) -> Iterator[Consumer]:
    owner_url, writer_url = property_database
    dead_letters = FakeDeadLetterSink()
    runtime.configure(
        ConsumerSettings(database_url=SecretStr(writer_url), payload_registry=REGISTRY),
        dead_letters=dead_letters,
    )
    try:
        with psycopg.connect(owner_url, autocommit=True) as db:
            yield Consumer(db, dead_letters)
    finally:
        runtime.configure(None)


# One consumer (one pool, one database) serves every example: each example empties the tables first. No explain
# phase: it replays a failure hundreds of times through real PostgreSQL, minutes for what shrinking already says.
PROPERTY: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


def _event(index: int, event_type: str, key: str, version: int, **payload: Any) -> Event:
    return Event(uuid.UUID(int=index + 1, version=4), event_type, key, version, payload)


def _one_batch(*events: Event) -> Plan:
    return Plan(events, tuple((index, 1) for index in range(len(events))), (MAX_BATCH,))


@PROPERTY
@given(plan=plans(item_changes))
@example(
    # one batch: k1 newer put first, older put and an older delete after it; k2 deleted after its put, newest last
    plan=_one_batch(
        _event(0, "item.put", "k1", 5, item_id="k1", label="new", quantity=2),
        _event(1, "item.put", "k1", 3, item_id="k1", label="old", quantity=1),
        _event(2, "item.removed", "k1", 4, item_id="k1"),
        _event(3, "item.removed", "k2", 7, item_id="k2"),
        _event(4, "item.put", "k2", 6, item_id="k2", label="gone", quantity=3),
    )
)
@example(
    # one message per batch: k1's delete comes before its older put (the tombstone keeps it out); k2's delete
    # before a newer put (which brings the row back), then a redelivery of the delete
    plan=Plan(
        (
            _event(0, "item.removed", "k1", 5, item_id="k1"),
            _event(1, "item.put", "k1", 3, item_id="k1", label="stale", quantity=1),
            _event(2, "item.removed", "k2", 2, item_id="k2"),
            _event(3, "item.put", "k2", 4, item_id="k2", label="back", quantity=2),
        ),
        ((0, 1), (1, 1), (2, 1), (3, 1), (2, 2)),
        (1,),
    )
)
def test_upserts_and_deletes_end_as_applying_them_in_version_order(consumer: Consumer, plan: Plan) -> None:
    consumer.reset()

    consumer.deliver(plan)

    consumer.assert_recorded_once_or_dead_lettered(plan)
    stored = consumer.rows("SELECT item_id, label, quantity, item_version FROM prop_items")
    assert {key: tuple(values) for key, *values in stored} == items_in_version_order(plan.events)


@PROPERTY
@given(plan=plans(profile_changes))
@example(
    # one batch: k1's newer score before its older one and before the row exists; two names, the newer first
    plan=_one_batch(
        _event(0, "profile.scored", "k1", 9, profile_id="k1", score=90),
        _event(1, "profile.named", "k1", 4, profile_id="k1", name="newer"),
        _event(2, "profile.scored", "k1", 2, profile_id="k1", score=20),
        _event(3, "profile.named", "k1", 1, profile_id="k1", name="older"),
        _event(4, "profile.badged", "k2", 3, profile_id="k2", badge="orphan"),
    )
)
def test_upserts_and_updates_of_disjoint_columns_end_as_applying_them_in_version_order(
    consumer: Consumer, plan: Plan
) -> None:
    consumer.reset()

    consumer.deliver(plan)

    consumer.assert_recorded_once_or_dead_lettered(plan)
    stored = consumer.rows(PROFILES)
    assert {key: tuple(values) for key, *values in stored} == profiles_in_version_order(plan.events)


@PROPERTY
@given(plan=plans(logged_or_profile_changes))
def test_inserts_apply_each_event_once_whatever_the_redeliveries_and_redone_batches(
    consumer: Consumer, plan: Plan
) -> None:
    consumer.reset()

    consumer.deliver(plan)

    consumer.assert_recorded_once_or_dead_lettered(plan)
    stored = consumer.rows("SELECT event_id, item, amount FROM prop_log")
    assert Counter(stored) == log_applied_once(plan.events)
    profiles = consumer.rows(PROFILES)
    assert {key: tuple(values) for key, *values in profiles} == profiles_in_version_order(plan.events)
