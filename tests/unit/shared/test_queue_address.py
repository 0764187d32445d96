"""What a queue URL or ARN says about where the queue lives (region, endpoint, FIPS, dual-stack)."""

from __future__ import annotations

import pytest

from sluice_shared.queue_address import QueueAddress, queue_address


@pytest.mark.parametrize(
    ("queue", "address"),
    [
        # AWS's hosts: the region is enough, botocore builds the endpoint
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/q", QueueAddress(region="eu-west-1")),
        ("https://eu-west-1.queue.amazonaws.com/123456789012/q", QueueAddress(region="eu-west-1")),  # legacy
        ("https://queue.amazonaws.com/123456789012/q", QueueAddress(region="us-east-1")),  # legacy, us-east-1
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", QueueAddress(region="cn-north-1")),
        ("https://sqs.us-gov-west-1.amazonaws.com/123456789012/q", QueueAddress(region="us-gov-west-1")),
        ("https://sqs-fips.us-east-1.amazonaws.com/123456789012/q", QueueAddress(region="us-east-1", fips=True)),
        ("https://sqs.eu-west-1.api.aws/123456789012/q", QueueAddress(region="eu-west-1", dualstack=True)),
        ("HTTPS://SQS.EU-WEST-1.AMAZONAWS.COM/123456789012/q", QueueAddress(region="eu-west-1")),
        # ARNs, of any partition
        ("arn:aws:sqs:ap-southeast-2:123456789012:q", QueueAddress(region="ap-southeast-2")),
        ("arn:aws-cn:sqs:cn-northwest-1:123456789012:q", QueueAddress(region="cn-northwest-1")),
        # any other host is the endpoint itself, with the region its name may carry
        ("http://127.0.0.1:4566/000000000000/q", QueueAddress(endpoint_url="http://127.0.0.1:4566")),
        ("http://localhost:9324/queue/q", QueueAddress(endpoint_url="http://localhost:9324")),
        ("http://[::1]:4566/000000000000/q", QueueAddress(endpoint_url="http://[::1]:4566")),
        (
            "http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q",
            QueueAddress(region="eu-west-1", endpoint_url="http://sqs.eu-west-1.localhost.localstack.cloud:4566"),
        ),
        (
            "https://vpce-0a1b2c3d-4e5f6a7b.sqs.us-east-1.vpce.amazonaws.com/123456789012/q",
            QueueAddress(
                region="us-east-1", endpoint_url="https://vpce-0a1b2c3d-4e5f6a7b.sqs.us-east-1.vpce.amazonaws.com"
            ),
        ),
        # a look-alike of an AWS host is not AWS's
        (
            "https://sqs.eu-west-1.amazonaws.com.example.org/123456789012/q",
            QueueAddress(region="eu-west-1", endpoint_url="https://sqs.eu-west-1.amazonaws.com.example.org"),
        ),
    ],
)
def test_a_queue_url_or_arn_names_its_region_and_endpoint(queue: str, address: QueueAddress) -> None:
    assert queue_address(queue) == address


def test_a_secret_arn_names_its_region_too() -> None:
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:sluice-db-AbCdEf"

    assert queue_address(arn) == QueueAddress(region="eu-central-1")


@pytest.mark.parametrize(
    "queue", [None, "", "sluice-events-dlq", "arn:aws:sqs::123456789012:q", "ftp://example.org/q", "http://[::1"]
)
def test_a_name_or_an_unreadable_reference_says_nothing(queue: str | None) -> None:
    assert queue_address(queue) == QueueAddress()
