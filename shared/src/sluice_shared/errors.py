"""One error hierarchy for all of Sluice, split into permanent and transient failures.

Callers decide what to do from the class alone: a :class:`PermanentError` means retrying cannot help
(send the message to the dead-letter queue, exit non-zero with a clear line); a :class:`TransientError`
means retrying may help (report a batch item failure so SQS redelivers, back off and try again).

Errors are classified once, where psycopg or boto3 is called, from the driver's exception *types*,
never by matching text in messages. Each class has a short, stable ``code`` that is written into
dead-letter message attributes and counted by ``sluice dlq stats``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "ConfigurationError",
    "ConflictingDuplicateError",
    "ConstraintViolationError",
    "CredentialsError",
    "DatabaseAuthenticationError",
    "DatabaseUnavailableError",
    "FieldError",
    "InvalidMessageError",
    "MalformedMessageError",
    "MessageRejectedError",
    "MessageTooLargeError",
    "MissingReferenceError",
    "MissingRowError",
    "PermanentError",
    "QueueAccessDeniedError",
    "QueueNotFoundError",
    "QueueUnavailableError",
    "RdsAuthTokenError",
    "RdsAuthTokenUnavailableError",
    "SchemaBehindError",
    "SecretAccessDeniedError",
    "SecretNotFoundError",
    "SecretUnreadableError",
    "SecretsManagerUnavailableError",
    "SinkMappingError",
    "SluiceError",
    "TransientError",
    "UnknownEventTypeError",
]


class SluiceError(Exception):
    """Base of every error Sluice raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermanentError(SluiceError):
    """Retrying cannot help: the input or the configuration must change first."""

    code = "permanent"


class TransientError(SluiceError):
    """Retrying may help: a dependency was unreachable, throttled or timed out."""

    code = "transient"


class ConfigurationError(PermanentError):
    """Settings are missing or contradictory; raised on first use, not at import."""

    code = "configuration"


class CredentialsError(ConfigurationError):
    """No usable AWS credentials were found for a call that needs them."""

    code = "credentials"


# --- message contract -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation problem: where it is (dotted path, ``None`` for the whole message) and why."""

    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else self.reason


class InvalidMessageError(PermanentError):
    """A message does not satisfy the event contract."""

    code = "invalid_message"

    def __init__(self, errors: tuple[FieldError, ...] | list[FieldError]) -> None:
        if not errors:
            raise ValueError("InvalidMessageError needs at least one FieldError")
        self.errors: tuple[FieldError, ...] = tuple(errors)
        first = self.errors[0]
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"{first}{more}")

    @property
    def field(self) -> str | None:
        """Dotted path of the first offending field, ``None`` when the message as a whole is at fault."""
        return self.errors[0].field

    @property
    def reason(self) -> str:
        """Why the first offending field was rejected."""
        return self.errors[0].reason

    @classmethod
    def single(cls, field: str | None, reason: str) -> InvalidMessageError:
        """Build the error for exactly one problem."""
        return cls((FieldError(field, reason),))


class MalformedMessageError(InvalidMessageError):
    """The message body is not a JSON object at all."""

    code = "malformed_json"


class MessageTooLargeError(InvalidMessageError):
    """The message body exceeds the documented size limit."""

    code = "too_large"


class UnknownEventTypeError(InvalidMessageError):
    """The event type has no registered payload model and the policy rejects unknown types."""

    code = "unknown_event_type"


# --- storage ------------------------------------------------------------------------------------


class ConstraintViolationError(PermanentError):
    """PostgreSQL refused a row on its data (a constraint or data error validation did not catch)."""

    code = "constraint_violation"

    def __init__(self, message: str, *, sqlstate: str | None = None, constraint: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.constraint = constraint


class MissingReferenceError(ConstraintViolationError):
    """A foreign key names a row that does not exist (yet): retried first, since the parent may come later."""

    code = "missing_reference"


class MissingRowError(PermanentError):
    """An ``update`` or ``delete`` sink found no row with the event's key, after its retries if it had them."""

    code = "missing_row"

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class SinkMappingError(PermanentError):
    """A sink's computed column raised for this event: the sink's declaration does not fit the payload."""

    code = "sink_mapping_failed"


class ConflictingDuplicateError(PermanentError):
    """An ``event_id`` is already stored with different content: its producer reused the id; the row is kept."""

    code = "conflicting_duplicate"

    def __init__(self, *, event_id: object, fields: tuple[str, ...], stored_message_id: str | None) -> None:
        if not fields:
            raise ValueError("ConflictingDuplicateError needs the fields that differ")
        origin = f"SQS message {stored_message_id}" if stored_message_id else "an earlier message"
        super().__init__(
            f"event_id {event_id} was already stored from {origin} with a different {', '.join(fields)}; "
            "the stored row is unchanged (a producer reused an event_id for other content)"
        )
        self.event_id = event_id
        self.fields = fields
        self.stored_message_id = stored_message_id

    @property
    def field(self) -> str:
        """The first envelope field that differs (``payload`` for any payload difference)."""
        return self.fields[0]


class DatabaseUnavailableError(TransientError):
    """The database could not be reached, dropped the connection, timed out or asked us to retry."""

    code = "database_unavailable"

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class SchemaBehindError(TransientError):
    """The database lacks migrations this code needs; retried, because the deploy's migrations run may follow."""

    code = "schema_behind"

    def __init__(self, message: str, *, missing: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class DatabaseAuthenticationError(DatabaseUnavailableError):
    """The database refused our credentials; transient because a rotated secret can be re-read."""

    code = "database_authentication"


# --- queues -------------------------------------------------------------------------------------


class QueueNotFoundError(PermanentError):
    """The queue URL or name does not exist at this endpoint and region."""

    code = "queue_not_found"


class QueueAccessDeniedError(PermanentError):
    """The credentials in use may not perform this queue operation."""

    code = "queue_access_denied"


class QueueUnavailableError(TransientError):
    """The queue endpoint was unreachable, throttled us or failed on its side."""

    code = "queue_unavailable"


class MessageRejectedError(PermanentError):
    """SQS refused one message as the sender's fault (for example invalid characters or size)."""

    code = "message_rejected"


# --- Secrets Manager (database credentials) --------------------------------------------------------------


class SecretNotFoundError(ConfigurationError):
    """The configured secret does not exist in this account and region."""

    code = "secret_not_found"


class SecretAccessDeniedError(ConfigurationError):
    """The credentials in use may not read the secret (or decrypt it with its KMS key)."""

    code = "secret_access_denied"


class SecretUnreadableError(ConfigurationError):
    """Secrets Manager refused to return the secret's value (for example it is scheduled for deletion)."""

    code = "secret_unreadable"


class SecretsManagerUnavailableError(TransientError):
    """Secrets Manager was unreachable, throttled us or failed on its side."""

    code = "secrets_manager_unavailable"


# --- RDS IAM authentication ---------------------------------------------------------------------------


class RdsAuthTokenError(ConfigurationError):
    """An RDS IAM auth token cannot be signed with this configuration (for example no region)."""

    code = "rds_auth_token"


class RdsAuthTokenUnavailableError(TransientError):
    """Signing an RDS IAM auth token failed to reach the credentials it needs; retrying may help."""

    code = "rds_auth_token_unavailable"
