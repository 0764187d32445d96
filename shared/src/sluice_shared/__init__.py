"""Sluice shared package: the message contract, the error hierarchy and what both functions need.

Importing this package is cheap (pydantic only). boto3 is imported by :mod:`sluice_shared.aws` on first
use, Powertools by :mod:`sluice_shared.observability`, so a unit pays only for what it uses.
"""

from __future__ import annotations

from sluice_shared.contract import (
    MAX_BODY_BYTES,
    EventEnvelope,
    parse_message,
    validate_event,
)
from sluice_shared.errors import (
    ConfigurationError,
    ConstraintViolationError,
    CredentialsError,
    DatabaseAuthenticationError,
    DatabaseUnavailableError,
    FieldError,
    InvalidMessageError,
    MalformedMessageError,
    MessageRejectedError,
    MessageTooLargeError,
    PermanentError,
    QueueAccessDeniedError,
    QueueNotFoundError,
    QueueUnavailableError,
    SluiceError,
    TransientError,
    UnknownEventTypeError,
)
from sluice_shared.limits import SQS_MAX_MESSAGE_BYTES
from sluice_shared.registry import PayloadRegistry, UnknownEventTypePolicy, contract_json_schema, load_registry

__all__ = [
    "MAX_BODY_BYTES",
    "SQS_MAX_MESSAGE_BYTES",
    "ConfigurationError",
    "ConstraintViolationError",
    "CredentialsError",
    "DatabaseAuthenticationError",
    "DatabaseUnavailableError",
    "EventEnvelope",
    "FieldError",
    "InvalidMessageError",
    "MalformedMessageError",
    "MessageRejectedError",
    "MessageTooLargeError",
    "PayloadRegistry",
    "PermanentError",
    "QueueAccessDeniedError",
    "QueueNotFoundError",
    "QueueUnavailableError",
    "SluiceError",
    "TransientError",
    "UnknownEventTypeError",
    "UnknownEventTypePolicy",
    "contract_json_schema",
    "load_registry",
    "parse_message",
    "validate_event",
]
