"""boto3 clients built the way AWS users expect, and boto3/botocore errors translated into Sluice's hierarchy.

Region: an explicit one, else the one the queue URL or ARN names, else ``AWS_REGION``, else botocore's own
(``AWS_DEFAULT_REGION``, the profile). botocore alone reads only ``AWS_DEFAULT_REGION``; Lambda sets both, a
shell often only ``AWS_REGION``. Endpoint: an explicit one, else the one configured for botocore
(``AWS_ENDPOINT_URL_SQS``, ``AWS_ENDPOINT_URL``), else the queue URL's own host when it is not AWS's (moto,
LocalStack), else AWS's endpoint for the region. Profile and credentials come from botocore's standard chain, so
the same code runs against AWS, LocalStack or the local moto server. boto3 is imported on first use only: it
costs ~150 ms of cold start, and a consumer batch without dead letters never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from sluice_shared.errors import (
    ConfigurationError,
    CredentialsError,
    MessageRejectedError,
    QueueAccessDeniedError,
    QueueNotFoundError,
    QueueUnavailableError,
    SluiceError,
)
from sluice_shared.queue_address import queue_address
from sluice_shared.settings import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["NO_REGION_MESSAGE", "aws_region", "classify_boto_error", "error_code", "sqs_client"]

NO_REGION_MESSAGE: Final = (
    "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the profile)"
)

# Sluice retries with its own backoff (sluice_shared.sqs.RetryPolicy); botocore's retries would multiply it.
CONNECT_TIMEOUT_SECONDS: Final = 5
READ_TIMEOUT_SECONDS: Final = 30

_NOT_FOUND: Final = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException"}
)
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


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (the query-protocol code when SQS gives one)."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error") or {}
    code = error.get("QueryErrorCode") or error.get("Code")
    return str(code) if code else None


def classify_boto_error(exc: Exception, *, what: str = "queue") -> SluiceError:
    """Translate a boto3/botocore exception into a permanent or transient Sluice error.

    Uses exception types and the structured AWS error code, never the message text. ``what`` names the
    resource in the message (``queue``, ``secret``, ...).
    """
    from botocore import exceptions as bce  # noqa: PLC0415

    if isinstance(exc, SluiceError):
        return exc  # already classified (for example no region while creating the client lazily)
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError | bce.CredentialRetrievalError):
        return CredentialsError(f"no usable AWS credentials for the {what}: {exc}")
    if isinstance(exc, bce.NoRegionError):
        return ConfigurationError(NO_REGION_MESSAGE)
    if isinstance(exc, bce.ProfileNotFound):
        return ConfigurationError(f"AWS profile not found: {exc}")
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectionClosedError | bce.HTTPClientError):
        return QueueUnavailableError(f"{what} endpoint unreachable: {exc}")
    if isinstance(exc, bce.ClientError):
        return _classify_client_error(exc, what)
    if isinstance(exc, bce.BotoCoreError):
        return QueueUnavailableError(f"{what} call failed: {exc}")
    return QueueUnavailableError(f"{what} call failed: {type(exc).__name__}: {exc}")


def _classify_client_error(exc: Exception, what: str) -> SluiceError:
    code = error_code(exc) or "Unknown"
    response: Any = getattr(exc, "response", {})
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    detail = (response.get("Error") or {}).get("Message") or code
    if code in _NOT_FOUND:
        return QueueNotFoundError(f"{what} does not exist: {detail}")
    if code in _EXPIRED:
        return CredentialsError(f"AWS credentials expired: {detail}")
    if code in _DENIED:
        return QueueAccessDeniedError(f"access denied to the {what} ({code}): {detail}")
    if code in _THROTTLED or status >= _SERVER_ERROR_STATUS:
        return QueueUnavailableError(f"{what} unavailable ({code}): {detail}")
    return MessageRejectedError(f"{what} refused the request ({code}): {detail}")
