"""boto3 clients built the way AWS users expect, and botocore errors translated into Sluice's hierarchy.

Each service has its own classifier and its own errors (a missing secret is not a missing queue). Only
botocore's own exceptions are classified (:func:`botocore_errors`); any other exception is a bug and propagates
unchanged instead of being retried as if the network were down.

Region: an explicit one, else the one the queue URL or ARN names, else ``AWS_REGION``, else botocore's own
(``AWS_DEFAULT_REGION``, the profile). botocore alone reads only ``AWS_DEFAULT_REGION``; Lambda sets both, a
shell often only ``AWS_REGION``. Endpoint: an explicit one, else the one configured for botocore
(``AWS_ENDPOINT_URL_SQS``, ``AWS_ENDPOINT_URL``), else the queue URL's own host when it is not AWS's (moto,
LocalStack), else AWS's endpoint for the region. Profile and credentials come from botocore's standard chain, so
the same code runs against AWS, LocalStack or the local moto server. boto3 is imported on first use only: it
costs ~150 ms of cold start, and a consumer batch without dead letters never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sluice_shared.errors import (
    ConfigurationError,
    CredentialsError,
    MessageRejectedError,
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
)
from sluice_shared.queue_address import queue_address
from sluice_shared.settings import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "NO_REGION_MESSAGE",
    "aws_region",
    "botocore_errors",
    "classify_rds_token_error",
    "classify_secrets_manager_error",
    "classify_sqs_error",
    "error_code",
    "sqs_client",
]

NO_REGION_MESSAGE: Final = (
    "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the profile)"
)

# Sluice retries with its own backoff (sluice_shared.sqs.RetryPolicy); botocore's retries would multiply it.
CONNECT_TIMEOUT_SECONDS: Final = 5
READ_TIMEOUT_SECONDS: Final = 30

_QUEUE_NOT_FOUND: Final = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException"}
)
_SECRET_NOT_FOUND: Final = frozenset({"ResourceNotFoundException"})
_DENIED: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSecurity",
        "KMS.AccessDeniedException",
        "KmsAccessDenied",
    }
)
_EXPIRED: Final = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_THROTTLED: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "AWS.SimpleQueueService.RequestThrottled",
        "TooManyRequestsException",
        "KmsThrottled",
        "KMS.ThrottlingException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
    }
)
_SERVER_ERROR_STATUS: Final = 500


def aws_region(
    region_name: str | None = None, *, resource: str | None = None, settings: AwsSettings | None = None
) -> str | None:
    """The region for a client: ``region_name``, else the one ``resource`` (an ARN or a queue URL) names, else
    ``AWS_REGION``, else ``AWS_DEFAULT_REGION``; None leaves the profile's region to botocore."""
    return region_name or queue_address(resource).region or (settings or AwsSettings()).region


def sqs_client(
    *,
    queue: str | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    settings: AwsSettings | None = None,
) -> SQSClient:
    """An SQS client for ``queue`` (a URL, an ARN or a name), with botocore's own retries turned off.

    Region and endpoint are resolved as the module says: explicit arguments first, then the environment's
    endpoint, then what ``queue`` names. A FIPS or dual-stack queue URL gets the matching AWS endpoint.

    Raises:
        ConfigurationError: no region is configured.
    """
    import boto3  # noqa: PLC0415 - deferred: boto3 costs ~150 ms at cold start
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import NoRegionError  # noqa: PLC0415

    aws = settings or AwsSettings()
    address = queue_address(queue)
    # An endpoint given or configured wins over the queue URL's host, and is used as it is: the URL's FIPS or
    # dual-stack form only chooses among AWS's own endpoints.
    configured = endpoint_url is not None or aws.sqs_endpoint_configured
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        # True only when the URL asks for it: None leaves AWS_USE_FIPS_ENDPOINT and the profile to botocore.
        use_fips_endpoint=True if address.fips and not configured else None,
        use_dualstack_endpoint=True if address.dualstack and not configured else None,
    )
    try:
        return boto3.client(
            "sqs",
            endpoint_url=endpoint_url if configured else address.endpoint_url,
            region_name=aws_region(region_name, resource=queue, settings=aws),
            config=config,
        )
    except NoRegionError as exc:
        raise ConfigurationError(NO_REGION_MESSAGE) from exc


def botocore_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """The exceptions a failed boto3 call raises: botocore's ``ClientError`` and every ``BotoCoreError``, and ``also``.

    For ``except botocore_errors() as exc:``, the only exceptions Sluice classifies: an except clause's expression
    is evaluated only when an exception reaches it, so botocore is imported only then. Anything else raised inside
    the ``try`` is a bug and propagates unchanged.
    """
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - deferred with boto3

    return (ClientError, BotoCoreError, *also)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (the query-protocol code when SQS gives one)."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error") or {}
    code = error.get("QueryErrorCode") or error.get("Code")
    return str(code) if code else None


class _Failure(NamedTuple):
    """A ClientError's code, HTTP status and message."""

    code: str
    status: int
    detail: str

    @property
    def server_side(self) -> bool:
        """Throttled, or failed on AWS's side: worth retrying."""
        return self.code in _THROTTLED or self.status >= _SERVER_ERROR_STATUS


def _failure(exc: Exception) -> _Failure:
    code = error_code(exc) or "Unknown"
    response: Any = getattr(exc, "response", {})
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return _Failure(code, status, (response.get("Error") or {}).get("Message") or code)


def _classify_common(exc: Exception, service: str) -> SluiceError | None:
    """What every service shares: the caller's AWS credentials and configuration, expired tokens.

    Re-raises ``exc`` itself when it is not a botocore error: an unexpected exception is a bug, not an outage.
    """
    from botocore import exceptions as bce  # noqa: PLC0415

    if not isinstance(exc, bce.ClientError | bce.BotoCoreError):
        raise exc
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError | bce.CredentialRetrievalError):
        return CredentialsError(f"no usable AWS credentials for {service}: {exc}")
    if isinstance(exc, bce.NoRegionError):
        return ConfigurationError(NO_REGION_MESSAGE)
    if isinstance(exc, bce.ProfileNotFound):
        return ConfigurationError(f"AWS profile not found: {exc}")
    if isinstance(exc, bce.ClientError) and error_code(exc) in _EXPIRED:
        return CredentialsError(f"AWS credentials expired ({service}): {_failure(exc).detail}")
    return None


def _unreachable(exc: Exception) -> bool:
    """The endpoint could not be reached or the connection broke: the network, not the request."""
    from botocore import exceptions as bce  # noqa: PLC0415

    return isinstance(exc, bce.ConnectionError | bce.HTTPClientError | bce.IncompleteReadError)


class _ServiceErrors(NamedTuple):
    """One service's error classes, and how its messages name what failed."""

    subject: str
    """What was asked for, in messages: ``queue``, ``secret <arn>``."""
    endpoint: str
    """What could not be reached, in messages."""
    not_found_codes: frozenset[str]
    not_found: type[SluiceError]
    denied: type[SluiceError]
    unavailable: type[SluiceError]
    refused: type[SluiceError]


def _classify(exc: Exception, errors: _ServiceErrors) -> SluiceError:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    common = _classify_common(exc, f"the {errors.subject}")
    if common is not None:
        return common
    if _unreachable(exc):
        return errors.unavailable(f"{errors.endpoint} unreachable: {exc}")
    if not isinstance(exc, ClientError):
        return errors.refused(f"the {errors.subject} request failed before it was sent: {exc}")
    failure = _failure(exc)
    if failure.code in errors.not_found_codes:
        return errors.not_found(f"{errors.subject} does not exist: {failure.detail}")
    if failure.code in _DENIED:
        return errors.denied(f"access denied to the {errors.subject} ({failure.code}): {failure.detail}")
    if failure.server_side:
        return errors.unavailable(f"{errors.subject} unavailable ({failure.code}): {failure.detail}")
    return errors.refused(f"{errors.subject} refused the request ({failure.code}): {failure.detail}")


def classify_sqs_error(exc: Exception, *, what: str = "queue") -> SluiceError:
    """Translate a botocore error of an SQS call into a permanent or transient queue error.

    Uses exception types and the structured AWS error code, never the message text. ``what`` names the queue in
    the message (``queue``, ``dead-letter queue``). Any other botocore error (a request botocore itself refused,
    such as a parameter that fails validation) is permanent: retrying the same request cannot help.

    Raises:
        Exception: ``exc`` itself, unchanged, when it is not one of :func:`botocore_errors`.
    """
    errors = _ServiceErrors(
        subject=what,
        endpoint=f"{what} endpoint",
        not_found_codes=_QUEUE_NOT_FOUND,
        not_found=QueueNotFoundError,
        denied=QueueAccessDeniedError,
        unavailable=QueueUnavailableError,
        refused=MessageRejectedError,
    )
    return _classify(exc, errors)


def classify_secrets_manager_error(exc: Exception, *, secret_id: str) -> SluiceError:
    """Translate a botocore error of a Secrets Manager call into a permanent or transient secret error.

    Raises:
        Exception: ``exc`` itself, unchanged, when it is not one of :func:`botocore_errors`.
    """
    errors = _ServiceErrors(
        subject=f"secret {secret_id}",
        endpoint=f"Secrets Manager (secret {secret_id})",
        not_found_codes=_SECRET_NOT_FOUND,
        not_found=SecretNotFoundError,
        denied=SecretAccessDeniedError,
        unavailable=SecretsManagerUnavailableError,
        refused=SecretUnreadableError,
    )
    return _classify(exc, errors)


def classify_rds_token_error(exc: Exception, *, host: str) -> SluiceError:
    """Translate a botocore error raised while signing an RDS IAM auth token (a local signature, no call to RDS).

    Only the credentials lookup behind the signature can fail transiently (a container or instance credentials
    endpoint that did not answer); everything else is permanent.

    Raises:
        Exception: ``exc`` itself, unchanged, when it is not one of :func:`botocore_errors`.
    """
    common = _classify_common(exc, f"an RDS IAM auth token for {host}")
    if common is not None:
        return common
    if _unreachable(exc):
        return RdsAuthTokenUnavailableError(f"cannot sign an RDS IAM auth token for {host}: {exc}")
    return RdsAuthTokenError(f"cannot sign an RDS IAM auth token for {host}: {exc}")
