"""The Lambda entry point end to end over fakes: exact response, one log line with counts, EMF metrics."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pytest

from sluice_cli.context import LocalContext
from sluice_consumer.in_process import in_process
from sluice_consumer.records import InvalidEventError
from sluice_consumer.settings import ConsumerSettings
from sluice_shared.errors import SecretNotFoundError, SecretsManagerUnavailableError
from tests.support.factories import event_body, event_dict
from tests.unit.consumer.fakes import FakeDeadLetterSink, FakeEventStore
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sluice_consumer.in_process import ConsumerHandler


@pytest.fixture
def store() -> FakeEventStore:
    return FakeEventStore()


@pytest.fixture
def sink() -> FakeDeadLetterSink:
    return FakeDeadLetterSink()


@pytest.fixture
def output() -> io.StringIO:
    """The handler's log lines and EMF metrics."""
    return io.StringIO()


@pytest.fixture
def lambda_handler(store: FakeEventStore, sink: FakeDeadLetterSink, output: io.StringIO) -> Iterator[ConsumerHandler]:
    settings = ConsumerSettings(database_url="postgresql://unused@127.0.0.1/none")  # type: ignore[arg-type]
    with in_process(settings, store=store, dead_letters=sink, output=output) as handler:
        yield handler


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_handler_returns_exactly_the_failed_message_ids(
    store: FakeEventStore, sink: FakeDeadLetterSink, output: io.StringIO, lambda_handler: ConsumerHandler
) -> None:
    sink.refuse = {"m1"}
    body = event_body()

    response = lambda_handler(sqs_event([body, "bad", body, "{}"]), LocalContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert len(store.rows) == 1
    assert sink.sent_ids == ["m3"]
    [log] = [line for line in json_lines(output.getvalue()) if line.get("message") == "batch consumed"]
    assert {key: log[key] for key in ("received", "stored", "duplicates", "dead_lettered", "retried")} == {
        "received": 4,
        "stored": 1,
        "duplicates": 1,
        "dead_lettered": 1,
        "retried": 1,
    }
    assert log["dead_letter_failures"] == 1
    assert (log["dead_letter_codes"], log["retry_codes"]) == ({"invalid_message": 1}, {"malformed_json": 1})
    assert log["failed_messages"] == [
        {"message_id": "m1", "disposition": "retry", "code": "malformed_json", "dead_letter_error": "transient"},
        {"message_id": "m3", "disposition": "dead_lettered", "code": "invalid_message", "dead_letter_error": None},
    ]
    assert "bad" not in json.dumps(log)  # bodies never reach the log
    [emf] = [line for line in json_lines(output.getvalue()) if "_aws" in line]
    assert (emf["MessagesReceived"], emf["MessagesStored"], emf["MessagesRetried"]) == ([4.0], [1.0], [1.0])
    assert emf["MessagesDuplicate"] == [1.0]
    assert emf["MessagesDeadLettered"] == [1.0]
    assert "BatchDuration" in emf


def test_conflicting_duplicates_are_dead_lettered_counted_and_logged(
    store: FakeEventStore, sink: FakeDeadLetterSink, output: io.StringIO, lambda_handler: ConsumerHandler
) -> None:
    # given an event, its exact twin and a twin reusing its id for another payload, in one batch
    event = event_dict()
    reused = json.dumps({**event, "payload": {"order_id": "o-2", "reason": "other"}})

    response = lambda_handler(sqs_event([json.dumps(event), json.dumps(event), reused]), LocalContext())

    assert response == {"batchItemFailures": []}
    assert sink.sent_ids == ["m2"]
    [log] = [line for line in json_lines(output.getvalue()) if line.get("message") == "batch consumed"]
    assert (log["stored"], log["duplicates"], log["dead_lettered"], log["conflicting_duplicates"]) == (1, 1, 1, 1)
    assert log["dead_letter_codes"] == {"conflicting_duplicate": 1}
    [emf] = [line for line in json_lines(output.getvalue()) if "_aws" in line]
    assert emf["ConflictingDuplicates"] == [1.0]


def test_handler_reports_everything_failed_when_the_deadline_is_too_close(
    store: FakeEventStore, lambda_handler: ConsumerHandler
) -> None:
    context = LocalContext(timeout_s=1.0)  # the default margin keeps 3 s free

    response = lambda_handler(sqs_event([event_body(), event_body()]), context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert store.calls == []


# The invocation fails before any metric exists: nothing is published, and nothing warns (warnings are errors).
def test_handler_rejects_an_event_that_is_not_from_sqs(output: io.StringIO, lambda_handler: ConsumerHandler) -> None:
    with pytest.raises(InvalidEventError):
        lambda_handler({"Records": [{"eventSource": "aws:s3"}]}, LocalContext())

    assert [line for line in json_lines(output.getvalue()) if "_aws" in line] == []


def test_a_transient_secrets_manager_failure_reports_every_message_for_retry(
    store: FakeEventStore, lambda_handler: ConsumerHandler
) -> None:
    store.failure = SecretsManagerUnavailableError("Secrets Manager unreachable (secret s)")

    response = lambda_handler(sqs_event([event_body(), event_body()]), LocalContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}


def test_a_missing_secret_fails_the_invocation_with_one_error_line_naming_it(
    store: FakeEventStore, output: io.StringIO, lambda_handler: ConsumerHandler
) -> None:
    missing = SecretNotFoundError("secret arn:aws:secretsmanager:us-east-1:1:secret:db does not exist: gone")

    def fail() -> None:
        raise missing

    store.on_store = fail

    with pytest.raises(SecretNotFoundError) as raised:
        lambda_handler(sqs_event([event_body()]), LocalContext())

    assert raised.value is missing
    errors = [line for line in json_lines(output.getvalue()) if line.get("level") == "ERROR"]
    assert [(line["message"], line["code"], line["error"]) for line in errors] == [
        ("batch failed: the configuration must change", "secret_not_found", missing.message)
    ]


def test_a_bug_propagates_unchanged_and_is_not_reported_as_a_retry(
    store: FakeEventStore, lambda_handler: ConsumerHandler
) -> None:
    bug = KeyError("payload")

    def fail() -> None:
        raise bug

    store.on_store = fail

    with pytest.raises(KeyError) as raised:
        lambda_handler(sqs_event([event_body()]), LocalContext())

    assert raised.value is bug
