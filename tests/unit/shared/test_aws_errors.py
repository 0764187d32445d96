from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from sluice_shared.aws import (
    botocore_errors,
    classify_rds_token_error,
    classify_secrets_manager_error,
    classify_sqs_error,
)
from sluice_shared.errors import (
    ConfigurationError,
    CredentialsError,
    MessageRejectedError,
    PermanentError,
    QueueAccessDeniedError,
    QueueNotFoundError,
    QueueUnavailableError,
    RdsAuthTokenError,
    RdsAuthTokenUnavailableError,
    SecretAccessDeniedError,
    SecretNotFoundError,
    SecretsManagerUnavailableError,
    SecretUnreadableError,
    SluiceError,
    TransientError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


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
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), QueueUnavailableError),
        (NoCredentialsError(), CredentialsError),
        (ParamValidationError(report="bad"), MessageRejectedError),
    ],
)
def test_sqs_errors_map_to_permanent_or_transient_queue_errors_by_type_and_code(
    exc: Exception, expected: type[SluiceError]
) -> None:
    assert type(classify_sqs_error(exc)) is expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("ResourceNotFoundException", 400), SecretNotFoundError),
        (_client_error("AccessDeniedException", 400), SecretAccessDeniedError),
        (_client_error("KMS.AccessDeniedException", 400), SecretAccessDeniedError),
        (_client_error("InvalidRequestException", 400), SecretUnreadableError),
        (_client_error("DecryptionFailure", 400), SecretUnreadableError),
        (_client_error("ThrottlingException", 400), SecretsManagerUnavailableError),
        (_client_error("InternalServiceError", 500), SecretsManagerUnavailableError),
        (_client_error("ExpiredTokenException", 400), CredentialsError),
        (
            EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
            SecretsManagerUnavailableError,
        ),
        (
            ConnectTimeoutError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
            SecretsManagerUnavailableError,
        ),
        (NoCredentialsError(), CredentialsError),
        (NoRegionError(), ConfigurationError),
    ],
)
def test_secrets_manager_errors_name_the_secret_never_a_queue(exc: Exception, expected: type[SluiceError]) -> None:
    error = classify_secrets_manager_error(exc, secret_id=SECRET_ARN)

    assert type(error) is expected
    assert "queue" not in error.message
    if not isinstance(exc, NoRegionError):  # a missing region is the process's, not the secret's
        assert SECRET_ARN in error.message


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NoCredentialsError(), CredentialsError),
        (NoRegionError(), ConfigurationError),
        (ParamValidationError(report="bad"), RdsAuthTokenError),
        (ConnectTimeoutError(endpoint_url="http://169.254.170.2/creds"), RdsAuthTokenUnavailableError),
    ],
)
def test_rds_token_errors_are_named_for_rds_iam_auth(exc: Exception, expected: type[SluiceError]) -> None:
    error = classify_rds_token_error(exc, host="proxy.example")

    assert type(error) is expected
    assert "queue" not in error.message


def test_each_service_splits_its_errors_into_permanent_and_transient() -> None:
    permanent = (SecretNotFoundError, SecretAccessDeniedError, SecretUnreadableError, RdsAuthTokenError)
    transient = (SecretsManagerUnavailableError, RdsAuthTokenUnavailableError)

    assert all(issubclass(kind, PermanentError) for kind in permanent)
    assert all(issubclass(kind, TransientError) for kind in transient)
    assert not {kind.code for kind in (*permanent, *transient)} & {QueueNotFoundError.code, QueueUnavailableError.code}


@pytest.mark.parametrize(
    "classify",
    [
        classify_sqs_error,
        lambda exc: classify_secrets_manager_error(exc, secret_id=SECRET_ARN),
        lambda exc: classify_rds_token_error(exc, host="proxy.example"),
    ],
)
@pytest.mark.parametrize("bug", [KeyError("SecretString"), TypeError("unexpected keyword"), RuntimeError("bug")])
def test_an_exception_that_is_not_botocores_propagates_unchanged(
    classify: Callable[[Exception], SluiceError], bug: Exception
) -> None:
    with pytest.raises(type(bug)) as raised:
        classify(bug)

    assert raised.value is bug


def test_botocore_errors_are_the_only_ones_caught() -> None:
    caught = botocore_errors()

    assert isinstance(_client_error("AccessDenied", 403), caught)
    assert isinstance(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), caught)
    assert not isinstance(RuntimeError("bug"), caught)
    assert not isinstance(QueueNotFoundError("q"), caught)
