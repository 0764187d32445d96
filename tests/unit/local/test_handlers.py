"""The local pipeline hosts both functions in one process: one's invocation never touches the other's metrics."""

from __future__ import annotations

import io
import json
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from sluice_consumer import runtime as consumer_runtime
from sluice_consumer.context import LocalContext
from sluice_consumer.handler import lambda_handler as consumer_handler
from sluice_consumer.settings import ConsumerSettings
from sluice_ingest import runtime as ingest_runtime
from sluice_ingest.handler import lambda_handler as ingest_handler
from sluice_ingest.handler import logger as ingest_logger
from sluice_ingest.settings import IngestSettings
from tests.support.emf import published_metrics
from tests.support.events import load_event
from tests.support.factories import event_body, event_dict
from tests.unit.consumer.fakes import FakeDeadLetterSink, FakeEventStore
from tests.unit.consumer.sqs_events import sqs_event
from tests.unit.ingest.fakes import FakeSender
from tests.unit.ingest.test_handler import QUEUE_URL, FakeContext

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


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
def store() -> Iterator[FakeEventStore]:
    store = FakeEventStore()
    settings = ConsumerSettings(database_url="postgresql://unused@127.0.0.1/none")  # type: ignore[arg-type]
    consumer_runtime.configure(settings, store=store, dead_letters=FakeDeadLetterSink())
    ingest_runtime.configure(IngestSettings(queue_url=QUEUE_URL), sender=FakeSender(queue_url=QUEUE_URL))
    yield store
    consumer_runtime.configure(None)
    ingest_runtime.configure()


def test_a_consumer_batch_between_ingest_metrics_and_their_flush_leaves_ingest_its_own(
    store: FakeEventStore, capsys: pytest.CaptureFixture[str]
) -> None:
    # given an ingest invocation that has added its metrics and, before publishing them, logs its line: a whole
    # consumer invocation runs right then (as another thread of the local pipeline may)
    request = load_event("function_url_post_events")
    request["body"] = json.dumps([event_dict()])
    consumed: list[Any] = []
    stream = _ActsOnLogLine(
        '"events ingested"', lambda: consumed.append(consumer_handler(sqs_event([event_body()]), LocalContext()))
    )
    handler: Any = ingest_logger.registered_handler
    previous, handler.stream = handler.stream, stream

    # when
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "No application metrics to publish" once made this a 502
            response = ingest_handler(request, FakeContext())
    finally:
        handler.stream = previous

    # then both answered, and each function published exactly its own metrics
    assert (response["statusCode"], consumed, len(store.rows)) == (202, [{"batchItemFailures": []}], 1)
    published = published_metrics(capsys.readouterr().out)
    assert [service for service, _ in published] == ["sluice-consumer", "ingest"]
    assert published[1][1] == {"EventsQueued": [1.0], "EventsRejected": [0.0], "EventsFailed": [0.0]}
    consumer_metrics = published[0][1]
    assert (consumer_metrics["MessagesReceived"], consumer_metrics["MessagesStored"]) == ([1.0], [1.0])
    assert [name for name in consumer_metrics if name.startswith("Events")] == []
