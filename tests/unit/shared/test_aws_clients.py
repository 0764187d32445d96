"""SQS clients find their region and endpoint the way AWS users expect, from nothing but what they are given.

Every test starts from an environment with no ``AWS_*`` variable and no AWS config or credentials file (only
fake credentials), then sets exactly what it names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from sluice_shared.aws import NO_REGION_MESSAGE, aws_region, sqs_client
from sluice_shared.errors import ConfigurationError
from sluice_shared.settings import AwsSettings
from tests.support.aws import clear_aws_environment

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_sqs import SQSClient

LOOPBACK_QUEUE = "http://127.0.0.1:4566/000000000000/q"


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_aws_environment(monkeypatch, tmp_path)


def where(client: SQSClient) -> tuple[str, str]:
    """The region a client signs for and the endpoint it sends to."""
    return client.meta.region_name, client.meta.endpoint_url


def test_aws_region_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")

    assert where(sqs_client()) == ("eu-central-1", "https://sqs.eu-central-1.amazonaws.com")
    assert aws_region() == "eu-central-1"


def test_aws_default_region_alone_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")

    assert where(sqs_client()) == ("ap-south-1", "https://sqs.ap-south-1.amazonaws.com")


def test_aws_region_wins_over_aws_default_region_and_blank_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    assert where(sqs_client())[0] == "us-west-2"

    monkeypatch.setenv("AWS_REGION", " ")
    assert where(sqs_client())[0] == "eu-west-3"


def test_the_profiles_region_is_left_to_botocore(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = sa-east-1\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ops")

    assert where(sqs_client())[0] == "sa-east-1"


def test_no_region_anywhere_is_a_configuration_error_that_says_what_works() -> None:
    with pytest.raises(ConfigurationError) as caught:
        sqs_client(queue=LOOPBACK_QUEUE)

    assert caught.value.message == NO_REGION_MESSAGE
    assert aws_region() is None


@pytest.mark.parametrize(
    ("queue", "region", "endpoint"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/q", "eu-west-1", "https://sqs.eu-west-1.amazonaws.com"),
        ("https://eu-west-1.queue.amazonaws.com/123456789012/q", "eu-west-1", "https://sqs.eu-west-1.amazonaws.com"),
        ("https://queue.amazonaws.com/123456789012/q", "us-east-1", "https://sqs.us-east-1.amazonaws.com"),
        (
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
            "cn-north-1",
            "https://sqs.cn-north-1.amazonaws.com.cn",
        ),
        (
            "https://sqs-fips.us-east-1.amazonaws.com/123456789012/q",
            "us-east-1",
            "https://sqs-fips.us-east-1.amazonaws.com",
        ),
        ("https://sqs.eu-west-1.api.aws/123456789012/q", "eu-west-1", "https://sqs.eu-west-1.api.aws"),
        ("arn:aws:sqs:ap-southeast-2:123456789012:q", "ap-southeast-2", "https://sqs.ap-southeast-2.amazonaws.com"),
    ],
)
def test_an_aws_queue_url_or_arn_needs_no_region(queue: str, region: str, endpoint: str) -> None:
    assert where(sqs_client(queue=queue)) == (region, endpoint)


def test_the_queue_urls_region_wins_over_the_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    # A queue is only reachable in its own region: a shell's default region cannot help with this one.
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    assert where(sqs_client(queue="https://sqs.eu-west-1.amazonaws.com/1/q"))[0] == "eu-west-1"


def test_a_local_queue_url_needs_no_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    assert where(sqs_client(queue=LOOPBACK_QUEUE)) == ("us-east-1", "http://127.0.0.1:4566")


def test_a_localstack_host_names_its_region_and_is_the_endpoint() -> None:
    queue = "http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q"

    assert where(sqs_client(queue=queue)) == ("eu-west-1", "http://sqs.eu-west-1.localhost.localstack.cloud:4566")


def test_explicit_region_and_endpoint_win_over_the_queue_url() -> None:
    client = sqs_client(
        queue="https://sqs.eu-west-1.amazonaws.com/1/q", region_name="us-west-2", endpoint_url="http://127.0.0.1:9"
    )

    assert where(client) == ("us-west-2", "http://127.0.0.1:9")
    assert where(sqs_client(queue=LOOPBACK_QUEUE, region_name="us-west-2"))[0] == "us-west-2"


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"])
def test_an_endpoint_set_in_the_environment_wins_over_the_queue_urls(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv(variable, "http://localhost:5000")

    assert where(sqs_client(queue=LOOPBACK_QUEUE)) == ("us-east-1", "http://localhost:5000")
    # a FIPS queue URL does not turn the configured endpoint into AWS's FIPS one
    assert where(sqs_client(queue="https://sqs-fips.us-east-1.amazonaws.com/1/q"))[1] == "http://localhost:5000"


def test_the_service_endpoint_variable_wins_over_the_global_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:5000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://localhost:5001")

    assert where(sqs_client())[1] == "http://localhost:5001"


def test_ignored_configured_endpoints_leave_the_queue_urls_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://localhost:5000")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE")

    assert where(sqs_client(queue=LOOPBACK_QUEUE))[1] == "http://127.0.0.1:4566"


def test_explicit_settings_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    client = sqs_client(queue=LOOPBACK_QUEUE, settings=AwsSettings(AWS_REGION="eu-north-1"))

    assert where(client) == ("eu-north-1", "http://127.0.0.1:4566")


def test_a_resources_arn_gives_other_clients_their_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    secret = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:sluice-db-AbCdEf"

    assert aws_region(resource=secret) == "eu-central-1"
    assert aws_region("ca-central-1", resource=secret) == "ca-central-1"
    assert aws_region(resource="sluice-db") == "us-east-1"
