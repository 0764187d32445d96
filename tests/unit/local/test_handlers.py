"""The local pipeline hosts both functions in one process: one's invocation never touches the other's metrics."""

from __future__ import annotations

import io
import json
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from sluice_cli.context import LocalContext
from sluice_consumer.in_process import in_process as consumer_in_process
from sluice_consumer.settings import ConsumerSettings
from sluice_ingest.in_process import in_process as ingest_in_process
from sluice_ingest.settings import IngestSettings
from tests.support.emf import published_metrics
from tests.support.events import load_event
from tests.support.factories import event_body, event_dict
from tests.unit.consumer.fakes import FakeDeadLetterSink, FakeEventStore
from tests.unit.consumer.sqs_events import sqs_event
from tests.unit.ingest.fakes import FakeSender
from tests.unit.ingest.test_handler import QUEUE_URL

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sluice_consumer.in_process import ConsumerHandler


class _ActsOnLogLine(io.StringIO):
    """A log stream that runs ``action`` once, when the line containing ``marker`` is written."""

    def __init__(self, marker: str, action: Callable[[], object]) -> None:
        super().__init__()
        self._marker = marker
        self._action: Callable[[], object] | None = action

    def write(self, text: str) -> int:
        if self._action is not None and self._marker in text:
            action, self._action = self._action, None
            action()
        return super().write(text)


@pytest.fixture
def store() -> FakeEventStore:
    return FakeEventStore()


@pytest.fixture
def consumer_handler(store: FakeEventStore) -> Iterator[ConsumerHandler]:
    settings = ConsumerSettings(database_url="postgresql://unused@127.0.0.1/none")  # type: ignore[arg-type]
    with consumer_in_process(settings, store=store, dead_letters=FakeDeadLetterSink()) as handler:
        yield handler


def test_a_consumer_batch_between_ingest_metrics_and_their_flush_leaves_ingest_its_own(
    store: FakeEventStore, consumer_handler: ConsumerHandler
) -> None:
    # given an ingest invocation that has added its metrics and, before publishing them, logs its line: a whole
    # consumer invocation runs right then (as another thread of the local pipeline may)
    request = load_event("function_url_post_events")
    request["body"] = json.dumps([event_dict()])
    consumed: list[Any] = []
    stream = _ActsOnLogLine(
        '"events ingested"', lambda: consumed.append(consumer_handler(sqs_event([event_body()]), LocalContext()))
    )
    settings = IngestSettings(queue_url=QUEUE_URL)

    # when (the ingest function's log lines and metrics go to the stream, and so does stdout while it runs)
    with (
        ingest_in_process(settings, sender=FakeSender(queue_url=QUEUE_URL), output=stream) as ingest_handler,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")  # "No application metrics to publish" once made this a 502
        response = ingest_handler(request, LocalContext(function_name="sluice-ingest"))

    # then both answered, and each function published exactly its own metrics
    assert (response["statusCode"], consumed, len(store.rows)) == (202, [{"batchItemFailures": []}], 1)
    published = published_metrics(stream.getvalue())
    assert [service for service, _ in published] == ["sluice-consumer", "ingest"]
    assert published[1][1] == {"EventsQueued": [1.0], "EventsRejected": [0.0], "EventsFailed": [0.0]}
    consumer_metrics = published[0][1]
    assert (consumer_metrics["MessagesReceived"], consumer_metrics["MessagesStored"]) == ([1.0], [1.0])
    assert [name for name in consumer_metrics if name.startswith("Events")] == []
