"""No secret, token or message body in the logs: everything the consumer and ingest functions write at INFO.

The real handlers run on valid and invalid events (the sample generator's five ways of breaking the contract,
plus bodies that are not JSON), in both database credential modes against the test proxy: Secrets Manager (the
password in moto, checked by the proxy, rotated, then refused) and RDS IAM tokens (signed with distinctive fake
AWS keys, then refused). Every byte written to stdout/stderr (Powertools' JSON lines, EMF) and every Python log
record at INFO or above (psycopg's pool warnings included) is collected; none may contain the password, the token's
signature or credential, the AWS keys, or any payload string of any message.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Final

import boto3
import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import AfterValidator, BaseModel

from sluice_cli.context import LocalContext
from sluice_cli.generate import generate_events
from sluice_consumer import runtime
from sluice_consumer.handler import lambda_handler
from sluice_consumer.settings import ConsumerSettings, SslMode
from sluice_consumer.telemetry import SERVICE as CONSUMER_SERVICE
from sluice_ingest import runtime as ingest_runtime
from sluice_ingest.handler import SERVICE as INGEST_SERVICE
from sluice_ingest.handler import lambda_handler as ingest_handler
from sluice_ingest.settings import IngestSettings
from sluice_shared.registry import PayloadRegistry
from tests.support.events import load_event
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event
from tests.unit.ingest.fakes import FakeSender

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_sqs import SQSClient

    from tests.support.pgproxy import PgProxy

ACCESS_KEY_ID: Final = "AKIASLUICELOGTEST001"
SECRET_ACCESS_KEY: Final = "sluice/log-test/secret-access-key/0001"
BODY_MARKER: Final = "BODY-MARKER-do-not-log"
# A valid event whose payload carries the marker: retried (never dead-lettered) when the database refuses us.
MARKED_EVENT: Final = event_body(payload={"order_id": "o-marked", "reason": BODY_MARKER})
# Payload strings shorter than this could appear in a log line by coincidence (a field name, "free", "EUR").
DISTINCTIVE_LENGTH: Final = 8


class Captured(logging.Handler):
    """Every Python log record at INFO or above: its formatted text and every attribute (extras included)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))
        self.lines.append(repr(vars(record)))


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A function returning all output so far: Powertools' JSON lines, stdout, stderr and every log record."""
    powertools = io.StringIO()
    for service in (CONSUMER_SERVICE, INGEST_SERVICE):
        for handler in logging.getLogger(service).handlers:
            if isinstance(handler, logging.StreamHandler):
                monkeypatch.setattr(handler, "stream", powertools)
    captured = Captured()
    root = logging.getLogger()
    root.addHandler(captured)
    monkeypatch.setattr(root, "level", logging.INFO)

    def everything() -> str:
        out, err = capfd.readouterr()
        return "\n".join([powertools.getvalue(), out, err, *captured.lines])

    try:
        yield everything
    finally:
        root.removeHandler(captured)


def sample_events(count: int) -> list[Any]:
    return [*generate_events(count, invalid_ratio=0.5, seed=20261126)]


def bodies(events: list[Any]) -> list[str]:
    """JSON bodies of ``events`` and two bodies that are not JSON, each carrying the marker."""
    return [json.dumps(event) for event in events] + [f"{{not json {BODY_MARKER}", f"[{BODY_MARKER!r}]"]


def payload_strings(events: list[Any]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value) >= DISTINCTIVE_LENGTH:
            found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for event in events:
        if isinstance(event, dict):
            walk(event.get("payload"))
    return found


def assert_nothing_leaked(output: str, secrets: set[str]) -> None:
    leaked = sorted(secret for secret in secrets if secret in output)
    assert leaked == [], f"found in the logs: {leaked[:5]}"


@pytest.fixture
def dlq_url(sqs_client: SQSClient, sqs_endpoint: str, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", sqs_endpoint)
    return sqs_client.create_queue(QueueName=f"{unique_name}-dlq")["QueueUrl"]


@pytest.fixture
def consumer_reset() -> Iterator[None]:
    yield
    runtime.configure(None)


def consume(records: list[str]) -> dict[str, Any]:
    return dict(lambda_handler(sqs_event(records), LocalContext()))


@pytest.mark.usefixtures("consumer_reset")
def test_secret_mode_logs_hold_no_password_and_no_body(
    pg_proxy: PgProxy,
    migrated_database_url: str,
    dlq_url: str,
    sqs_endpoint: str,
    logs: Any,
) -> None:
    # given the database password in Secrets Manager, checked by the proxy
    passwords = [f"pw-{uuid.uuid4()}-old", f"pw-{uuid.uuid4()}-new", f"pw-{uuid.uuid4()}-unknown"]
    secrets = boto3.client("secretsmanager", endpoint_url=sqs_endpoint)
    arn = secrets.create_secret(
        Name=f"sluice-logs-{uuid.uuid4().hex}",
        SecretString=json.dumps({"username": "postgres", "password": passwords[0]}),
    )["ARN"]
    pg_proxy.require_password(passwords[0])
    runtime.configure(
        ConsumerSettings(
            db_secret_arn=arn,
            db_host=pg_proxy.host,
            db_port=pg_proxy.port,
            db_name=conninfo_to_dict(migrated_database_url)["dbname"],
            db_sslmode=SslMode.DISABLE,
            db_connect_timeout_s=1,
            dlq_url=dlq_url,
        )
    )
    events = sample_events(40)

    # when batches are consumed, the password rotates, and then the database refuses every password
    first = consume(bodies(events[:20]))
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "postgres", "password": passwords[1]}))
    pg_proxy.require_password(passwords[1])
    pg_proxy.drop_connections()
    second = consume(bodies(events[20:]))
    pg_proxy.require_password(passwords[2])
    pg_proxy.drop_connections()
    refused = consume([MARKED_EVENT])

    # then the work was done, the failures were logged, and nothing secret or from a body was
    output = logs()
    assert (first, second) == ({"batchItemFailures": []}, {"batchItemFailures": []})
    assert refused == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert "password authentication failed" in output
    assert '"message":"batch consumed"' in output
    assert_nothing_leaked(output, {*passwords, BODY_MARKER, *payload_strings(events)})


@pytest.mark.usefixtures("consumer_reset")
def test_iam_mode_logs_hold_no_token_and_no_aws_keys(
    pg_proxy: PgProxy,
    migrated_database_url: str,
    dlq_url: str,
    logs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given RDS IAM authentication with distinctive (fake) AWS keys: tokens are signed locally with them
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    runtime.configure(
        ConsumerSettings(
            db_iam_auth=True,
            db_host=pg_proxy.host,
            db_port=pg_proxy.port,
            db_user="postgres",
            db_name=conninfo_to_dict(migrated_database_url)["dbname"],
            db_sslmode=SslMode.DISABLE,
            db_connect_timeout_s=1,
            dlq_url=dlq_url,
        )
    )
    token = runtime.get_credentials().conninfo()
    events = sample_events(20)
    # the proxy takes any token, as RDS Proxy takes valid ones, and logs in to the server with its own credentials
    pg_proxy.require_password(lambda supplied: "X-Amz-Signature=" in supplied)

    # when a batch is consumed, then the proxy refuses every token
    accepted = consume(bodies(events))
    pg_proxy.require_password("not-a-token")
    pg_proxy.drop_connections()
    refused = consume([MARKED_EVENT])

    output = logs()
    assert accepted == {"batchItemFailures": []}
    assert refused == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert "password authentication failed" in output
    assert "X-Amz-Signature=" in token
    assert_nothing_leaked(
        output, {"X-Amz-Signature", "X-Amz-Credential", ACCESS_KEY_ID, SECRET_ACCESS_KEY, BODY_MARKER}
    )
    assert_nothing_leaked(output, payload_strings(events))


def test_ingest_logs_hold_no_body_on_valid_and_invalid_events(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    sender = FakeSender()
    ingest_runtime.configure(IngestSettings(queue_url=sender.queue_url), sender=sender)
    events = sample_events(60)
    requests = [json.dumps(events), json.dumps(events[0]), f'{{"payload": "{BODY_MARKER}"', json.dumps([BODY_MARKER])]
    try:
        statuses = [_post(body) for body in requests]
    finally:
        ingest_runtime.configure()

    output = logs()
    assert statuses == [207, 202, 400, 422]
    assert '"message":"events ingested"' in output
    assert_nothing_leaked(output, {BODY_MARKER, *payload_strings(events)})


class _Context:
    function_name = "sluice-ingest"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sluice-ingest"
    aws_request_id = "log-test"


def _post(body: str) -> int:
    event = load_event("function_url_post_events")
    event["body"] = body
    response = ingest_handler(event, _Context())
    return int(response["statusCode"])


# --- redaction of named payload fields -----------------------------------------------------------------------

CARD_NUMBER: Final = "4111111111111112"  # fails the Luhn check below


def _luhn(number: str) -> str:
    digits = [int(digit) for digit in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * digit, 10)) for digit in digits[1::2])
    if total % 10:
        # A validator that quotes the value it refuses, as hand-written validators often do.
        raise ValueError(f"{number} fails the Luhn check")
    return number


class CardCharged(BaseModel):
    """A payload model of the kind users register: its validator echoes the refused value."""

    card_number: Annotated[str, AfterValidator(_luhn)]


def card_registry() -> PayloadRegistry:
    """``SLUICE_PAYLOAD_REGISTRY`` target for the redaction test."""
    registry = PayloadRegistry()
    registry.register("card.charged", CardCharged)
    return registry


# The one INFO line that can carry a payload value is ingest's "events ingested": its rejected results quote each
# field error's reason, and a user's validator may quote the value. The consumer logs error codes only.
def test_a_redacted_fields_value_quoted_by_a_validator_stays_out_of_the_ingest_log(
    logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    sender = FakeSender()
    settings = IngestSettings(
        queue_url=sender.queue_url,
        payload_registry=f"{__name__}:card_registry",
        redact_fields=("card_number",),
    )
    ingest_runtime.configure(settings, sender=sender)
    event = json.loads(event_body(event_type="card.charged", payload={"card_number": CARD_NUMBER}))
    try:
        status = _post(json.dumps(event))
    finally:
        ingest_runtime.configure()

    output = logs()
    assert status == 422
    assert '"message":"events ingested"' in output
    assert_nothing_leaked(output, {CARD_NUMBER})
