"""The Lambda SQS event shape and AWS's partial batch response rules, one test per documented rule."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from sluice_local.sqs_event import BatchVerdict, lambda_event, lambda_record, settle_response
from tests.unit.local.fakes import QUEUE_ARN, REGION, sqs_message

IDS = ("m-1", "m-2", "m-3")


def test_record_has_lambdas_exact_shape_for_a_standard_queue():
    message = sqs_message('{"a": 1}')
    message["MessageAttributes"] = {"trace": {"DataType": "String", "StringValue": "abc"}}
    message["MD5OfMessageAttributes"] = "0123456789abcdef0123456789abcdef"

    record = lambda_record(message, queue_arn=QUEUE_ARN, region=REGION)

    assert record == {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": '{"a": 1}',
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {
            "trace": {"stringValue": "abc", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
        },
        "md5OfMessageAttributes": "0123456789abcdef0123456789abcdef",
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def test_record_without_message_attributes_has_no_md5_of_them():
    record = lambda_record(sqs_message(), queue_arn=QUEUE_ARN, region=REGION)

    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record


def test_fifo_record_carries_group_deduplication_and_sequence_as_strings():
    message = sqs_message(group_id="g-1", deduplication_id="d-1", sequence_number="18849496460467696128")

    record = lambda_record(message, queue_arn=QUEUE_ARN + ".fifo", region=REGION)

    assert record["attributes"] == {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1700000000000",
        "SenderId": "AIDAEXAMPLE",
        "ApproximateFirstReceiveTimestamp": "1700000000001",
        "SequenceNumber": "18849496460467696128",
        "MessageGroupId": "g-1",
        "MessageDeduplicationId": "d-1",
    }


def test_event_parses_with_powertools_sqs_model():
    event = lambda_event([lambda_record(sqs_message(), queue_arn=QUEUE_ARN, region=REGION) for _ in range(2)])

    parsed = SqsModel.model_validate(event)

    assert [record.eventSourceARN for record in parsed.Records] == [QUEUE_ARN, QUEUE_ARN]


@pytest.mark.parametrize(
    "response",
    [
        pytest.param({"batchItemFailures": []}, id="empty-list"),
        pytest.param({"batchItemFailures": None}, id="null-list"),
        pytest.param({}, id="empty-response"),
        pytest.param(None, id="null-response"),
    ],
)
def test_complete_success_responses_delete_the_whole_batch(response):
    assert settle_response(response, IDS) == BatchVerdict(succeeded=IDS, failed=())


def test_listed_failures_are_kept_and_the_rest_deleted():
    verdict = settle_response({"batchItemFailures": [{"itemIdentifier": "m-2"}]}, IDS)

    assert verdict == BatchVerdict(succeeded=("m-1", "m-3"), failed=("m-2",))


def test_a_failure_listed_twice_counts_once():
    response = {"batchItemFailures": [{"itemIdentifier": "m-3"}, {"itemIdentifier": "m-3"}]}

    assert settle_response(response, IDS) == BatchVerdict(succeeded=("m-1", "m-2"), failed=("m-3",))


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        pytest.param({"batchItemFailures": [{"itemIdentifier": ""}]}, "empty itemIdentifier", id="empty-identifier"),
        pytest.param({"batchItemFailures": [{"itemIdentifier": None}]}, "null itemIdentifier", id="null-identifier"),
        pytest.param(
            {"batchItemFailures": [{"itemIdentifer": "m-1"}]},
            "batch item failure without 'itemIdentifier' (keys: ['itemIdentifer'])",
            id="bad-key-name",
        ),
        pytest.param(
            {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "nope"}]},
            "itemIdentifier 'nope' is not a message of this batch",
            id="unknown-message-id",
        ),
        pytest.param(
            {"batchItemFailures": [{"itemIdentifier": 7}]},
            "malformed itemIdentifier: 7 is not a string",
            id="non-string-identifier",
        ),
        pytest.param(
            {"batchItemFailures": ["m-1"]}, "malformed batch item failure: 'm-1' is not an object", id="bare-id"
        ),
        pytest.param(
            {"batchItemFailures": "m-1"}, "invalid response: batchItemFailures is not a list", id="failures-not-list"
        ),
        pytest.param(["m-1"], "invalid response: a JSON list", id="list-response"),
        pytest.param("ok", "invalid response: a JSON str", id="string-response"),
    ],
)
def test_malformed_responses_fail_the_whole_batch(response, reason):
    assert settle_response(response, IDS) == BatchVerdict(succeeded=(), failed=IDS, batch_error=reason)


def test_a_response_json_cannot_encode_fails_the_whole_batch():
    verdict = settle_response({"batchItemFailures": [], "when": object()}, IDS)

    assert verdict.succeeded == ()
    assert verdict.failed == IDS
    assert verdict.batch_error is not None
    assert verdict.batch_error.startswith("response is not JSON serializable: ")
