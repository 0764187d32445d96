from __future__ import annotations

from typing import TypedDict

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from sluice_shared.aws import classify_boto_error
from sluice_shared.errors import (
    CredentialsError,
    MessageRejectedError,
    QueueAccessDeniedError,
    QueueNotFoundError,
    QueueUnavailableError,
    SluiceError,
)


class _ErrorDetail(TypedDict, total=False):
    """A ClientError's ``Error``; SQS's JSON protocol adds ``QueryErrorCode``, which botocore-stubs omit."""

    Code: str
    Message: str
    QueryErrorCode: str


def _client_error(code: str, status: int, query_code: str | None = None) -> ClientError:
    error: _ErrorDetail = {"Code": code, "Message": "m"}
    if query_code:
        error["QueryErrorCode"] = query_code
    return ClientError(
        {
            "Error": error,
            "ResponseMetadata": {
                "RequestId": "r-1",
                "HostId": "",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "SendMessageBatch",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("QueueDoesNotExist", 400, "AWS.SimpleQueueService.NonExistentQueue"), QueueNotFoundError),
        (_client_error("AccessDenied", 403), QueueAccessDeniedError),
        (_client_error("ExpiredToken", 403), CredentialsError),
        (_client_error("ThrottlingException", 400), QueueUnavailableError),
        (_client_error("Whatever", 503), QueueUnavailableError),
        (_client_error("InvalidParameterValue", 400), MessageRejectedError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), QueueUnavailableError),
        (NoCredentialsError(), CredentialsError),
    ],
)
def test_boto_errors_map_to_permanent_or_transient_by_type_and_code(
    exc: Exception, expected: type[SluiceError]
) -> None:
    assert type(classify_boto_error(exc)) is expected
