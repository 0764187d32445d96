"""The consumer's typed, frozen settings: where the database is, how to authenticate, TLS, time budgets, DLQ.

Read from the environment once per execution environment (``sluice_consumer.runtime``); tests and the CLI
build a :class:`ConsumerSettings` directly and pass it to ``runtime.configure``. Database credentials come
from exactly one source, in this order: an explicit ``SLUICE_DATABASE_URL``; a Secrets Manager secret
(``SLUICE_DB_SECRET_ARN``); RDS IAM authentication tokens (``SLUICE_DB_IAM_AUTH``). The flat variables the stack
sets are validated into one of :class:`UrlDatabase`, :class:`SecretDatabase` or :class:`IamDatabase` (a union
discriminated by ``kind``) when the settings load, so a missing or incomplete source fails there, naming the
variables, not on the first connection.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, TypeAdapter, model_validator

from sluice_shared import environment as env
from sluice_shared.settings import ContractSettings
from sluice_shared.topology import MAX_RECEIVE_COUNT_MINIMUM

__all__ = [
    "DEFAULT_DEADLINE_MARGIN_MS",
    "DEFAULT_PORT",
    "ConsumerSettings",
    "DatabaseAccess",
    "IamDatabase",
    "SecretDatabase",
    "SslMode",
    "UrlDatabase",
]

DEFAULT_PORT: Final = 5432
# Time kept free before the Lambda timeout: enough to roll back, report failures and flush metrics.
DEFAULT_DEADLINE_MARGIN_MS: Final = 3_000
DEFAULT_CONNECT_TIMEOUT_S: Final = 5
# SQS's redrive policy in the stack (sluice_shared.topology.QueueTopology.max_receive_count).
DEFAULT_MAX_RECEIVE_COUNT: Final = MAX_RECEIVE_COUNT_MINIMUM  # QueueTopology's default


class SslMode(StrEnum):
    """libpq ``sslmode`` values (https://www.postgresql.org/docs/current/libpq-ssl.html)."""

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


Port = Annotated[int, Field(gt=0, lt=65_536)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Access(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sslrootcert: str | None = None
    """CA bundle for verify-ca/verify-full; None: the Amazon Trust Services roots shipped in the package."""


class UrlDatabase(_Access):
    """An explicit libpq URL or conninfo; its own ``sslmode`` wins, else ``sslmode`` here, else ``prefer``."""

    kind: Literal["url"] = "url"
    url: SecretStr
    sslmode: SslMode | None = None


class SecretDatabase(_Access):
    """Username and password from a Secrets Manager secret (the JSON RDS writes); host, port and name given here
    win over the secret's."""

    kind: Literal["secret"] = "secret"
    secret_arn: NonEmpty
    host: str | None = None
    port: Port | None = None
    dbname: str | None = None
    sslmode: SslMode = SslMode.VERIFY_FULL


class IamDatabase(_Access):
    """RDS IAM authentication: a token signed with the function's role for each new connection."""

    kind: Literal["iam"] = "iam"
    host: NonEmpty
    user: NonEmpty
    dbname: NonEmpty
    port: Port = DEFAULT_PORT
    sslmode: SslMode = SslMode.VERIFY_FULL


DatabaseAccess = Annotated[UrlDatabase | SecretDatabase | IamDatabase, Field(discriminator="kind")]
_DATABASE_ACCESS: Final[TypeAdapter[UrlDatabase | SecretDatabase | IamDatabase]] = TypeAdapter(DatabaseAccess)


class ConsumerSettings(ContractSettings):
    """Everything the consumer Lambda (and ``sluice consume`` / ``sluice db``) needs beyond the contract."""

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=env.DATABASE_URL,
        description="Explicit libpq URL or conninfo; wins over the secret and IAM settings.",
    )
    db_secret_arn: str | None = Field(
        default=None,
        validation_alias=env.DB_SECRET_ARN,
        description="Secrets Manager secret (JSON with username and password, as RDS writes it).",
    )
    app_migrations: str | None = Field(
        default=None,
        validation_alias=env.APP_MIGRATIONS,
        description="The application's migrations ('package.module:folder' or a path), applied after Sluice's "
        "by the migrations function and `sluice db migrate`.",
    )
    db_writer_secret_arn: str | None = Field(
        default=None,
        validation_alias=env.DB_WRITER_SECRET_ARN,
        description="Migrations function only: the writer's secret, whose password it gives sluice_writer.",
    )
    db_host: str | None = Field(
        default=None,
        validation_alias=env.DB_HOST,
        description="Database or RDS Proxy endpoint; overrides the secret's host (point it at the proxy).",
    )
    db_port: Port | None = Field(default=None, validation_alias=env.DB_PORT)
    db_name: str | None = Field(default=None, validation_alias=env.DB_NAME)
    db_user: str | None = Field(default=None, validation_alias=env.DB_USER)
    db_iam_auth: bool = Field(
        default=False,
        validation_alias=env.DB_IAM_AUTH,
        description="Authenticate with RDS IAM tokens minted for each new connection.",
    )
    db_sslmode: SslMode | None = Field(
        default=None,
        validation_alias=env.DB_SSLMODE,
        description="libpq sslmode; default verify-full for AWS credentials, the URL's own (else prefer) for URLs.",
    )
    db_sslrootcert: str | None = Field(
        default=None,
        validation_alias=env.DB_SSLROOTCERT,
        description="CA bundle for verify-ca/verify-full; default: the Amazon Trust Services roots shipped inside.",
    )
    db_connect_timeout_s: Annotated[int, Field(ge=1, le=120)] = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S, validation_alias=env.DB_CONNECT_TIMEOUT_S
    )
    db_statement_timeout_ms: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        validation_alias=env.DB_STATEMENT_TIMEOUT_MS,
        description="Upper bound for one write, enforced client-side (no SET: it would pin RDS Proxy sessions).",
    )
    batch_deadline_margin_ms: Annotated[int, Field(ge=0)] = Field(
        default=DEFAULT_DEADLINE_MARGIN_MS,
        validation_alias=env.BATCH_DEADLINE_MARGIN_MS,
        description="Stop starting work when less than this remains of the Lambda's time.",
    )
    max_receive_count: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=DEFAULT_MAX_RECEIVE_COUNT,
        validation_alias=env.MAX_RECEIVE_COUNT,
        description="The source queue's maxReceiveCount: a sink row waiting for another message's row is "
        "retried until this delivery, then dead-lettered with its reason.",
    )
    dlq_url: str | None = Field(
        default=None,
        validation_alias=env.DLQ_URL,
        description="Dead-letter queue for permanent failures; unset: they are reported as batch item failures.",
    )

    _database: UrlDatabase | SecretDatabase | IamDatabase = PrivateAttr()

    @model_validator(mode="after")
    def _database_access(self) -> Self:
        """Validate the flat variables into exactly one credentials source (see the module doc)."""
        tls = {"sslrootcert": self.db_sslrootcert} | ({"sslmode": self.db_sslmode} if self.db_sslmode else {})
        if self.database_url is not None:
            access: dict[str, object] = {"kind": "url", "url": self.database_url}
        elif self.db_secret_arn:
            access = {"kind": "secret", "secret_arn": self.db_secret_arn, "host": self.db_host, "dbname": self.db_name}
            access |= {"port": self.db_port} if self.db_port else {}
        elif self.db_iam_auth:
            required = {env.DB_HOST: self.db_host, env.DB_USER: self.db_user, env.DB_NAME: self.db_name}
            missing = [name for name, value in required.items() if not value]
            if missing:
                raise ValueError(f"RDS IAM authentication needs {', '.join(missing)}")
            access = {"kind": "iam", "host": self.db_host, "user": self.db_user, "dbname": self.db_name}
            access |= {"port": self.db_port} if self.db_port else {}
        else:
            raise ValueError(
                f"no database configured: set {env.DATABASE_URL}, {env.DB_SECRET_ARN} or {env.DB_IAM_AUTH} with "
                f"{env.DB_HOST}, {env.DB_USER} and {env.DB_NAME}"
            )
        self._database = _DATABASE_ACCESS.validate_python(access | tls)
        return self

    @property
    def database(self) -> UrlDatabase | SecretDatabase | IamDatabase:
        """Where the database is and how to authenticate, validated when the settings loaded."""
        return self._database
