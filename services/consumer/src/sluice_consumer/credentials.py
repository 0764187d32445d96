"""Database credentials for each new connection: an explicit URL, a Secrets Manager secret or an RDS IAM token.

The pool's ``conninfo`` is a callable (:mod:`sluice_consumer.database`), so each new connection gets fresh
credentials: a new RDS IAM token (valid 15 minutes), or the cached Secrets Manager secret, re-read once after the
server refuses it (rotation). Which provider is built follows the validated settings
(:attr:`ConsumerSettings.database <sluice_consumer.settings.ConsumerSettings.database>`).

boto3 is imported on first use only (~150 ms of cold start); only botocore's own errors are classified, into the
failing service's errors (:mod:`sluice_shared.aws`): anything else raised by a client is a bug and propagates.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, Protocol

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sluice_consumer.settings import (
    DEFAULT_PORT,
    ConsumerSettings,
    IamDatabase,
    SecretDatabase,
    SslMode,
    UrlDatabase,
)
from sluice_shared.aws import aws_region, botocore_errors, classify_rds_token_error, classify_secrets_manager_error
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = [
    "AMAZON_ROOT_CA_BUNDLE",
    "APPLICATION_NAME",
    "CredentialsProvider",
    "IamCredentials",
    "SecretCredentials",
    "UrlCredentials",
    "build_credentials",
]

APPLICATION_NAME: Final = "sluice-consumer"
# Amazon Trust Services root CAs (Amazon Root CA 1-4, Starfield Services Root G2), taken from certifi's
# Mozilla bundle. RDS Proxy presents ACM certificates that chain to them. Direct RDS instance connections
# use the RDS CA bundle instead: point SLUICE_DB_SSLROOTCERT at it.
AMAZON_ROOT_CA_BUNDLE: Final = "certs/amazon-trust-services.pem"


def _bundled_ca() -> str:
    from importlib.resources import files  # noqa: PLC0415 - ~10 ms of imports, only for verify-ca/verify-full

    return str(files("sluice_consumer").joinpath(AMAZON_ROOT_CA_BUNDLE))


class CredentialsProvider(Protocol):
    """Builds the libpq conninfo for each new connection."""

    def conninfo(self) -> str:
        """A complete conninfo string, credentials included.

        Raises:
            ConfigurationError: the credentials cannot be obtained and retrying will not help.
            TransientError: the credentials service was unreachable.
        """
        ...

    def refresh(self) -> bool:
        """Forget cached credentials; True when new ones may differ (worth one more connection attempt)."""
        ...


def _tls(sslmode: SslMode, sslrootcert: str | None) -> dict[str, str]:
    params = {"sslmode": sslmode.value}
    if sslmode in {SslMode.VERIFY_CA, SslMode.VERIFY_FULL}:
        params["sslrootcert"] = sslrootcert or _bundled_ca()
    elif sslrootcert:
        params["sslrootcert"] = sslrootcert
    return params


class UrlCredentials:
    """An explicit URL or conninfo; its own ``sslmode`` wins, else the configured one, else ``prefer``."""

    def __init__(
        self,
        url: str,
        *,
        sslmode: SslMode | None = None,
        sslrootcert: str | None = None,
        connect_timeout_s: int | None = None,
    ) -> None:
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigurationError(f"invalid database URL: {exc}") from exc
        extra: dict[str, Any] = {}
        if "sslmode" not in given:
            extra |= _tls(sslmode or SslMode.PREFER, sslrootcert)
        if "connect_timeout" not in given and connect_timeout_s:
            extra["connect_timeout"] = connect_timeout_s
        if "application_name" not in given:
            extra["application_name"] = APPLICATION_NAME
        self._conninfo = make_conninfo(url, **extra)

    def conninfo(self) -> str:
        """The URL with Sluice's defaults added."""
        return self._conninfo

    def refresh(self) -> bool:
        """Nothing is cached: a refused URL stays refused."""
        return False


class SecretCredentials:
    """Username and password from a Secrets Manager secret (the JSON RDS writes), cached until refused."""

    def __init__(
        self,
        secret_arn: str,
        *,
        host: str | None = None,
        port: int | None = None,
        dbname: str | None = None,
        sslmode: SslMode = SslMode.VERIFY_FULL,
        sslrootcert: str | None = None,
        connect_timeout_s: int | None = None,
        client: SecretsManagerClient | None = None,
    ) -> None:
        self.secret_arn = secret_arn
        self._overrides = {"host": host, "port": port, "dbname": dbname}
        self._tls = _tls(sslmode, sslrootcert)
        self._connect_timeout_s = connect_timeout_s
        self._client = client
        self._secret: dict[str, Any] | None = None

    def _fetch(self) -> dict[str, Any]:
        if self._client is None:
            import boto3  # noqa: PLC0415 - deferred: ~150 ms of cold start, only for secret-based credentials

            # The secret's ARN names its region (then AWS_REGION, AWS_DEFAULT_REGION, the profile).
            self._client = boto3.client("secretsmanager", region_name=aws_region(resource=self.secret_arn))
        try:
            text = self._client.get_secret_value(SecretId=self.secret_arn)["SecretString"]
        except botocore_errors() as exc:  # classified right here from botocore's types and codes
            raise classify_secrets_manager_error(exc, secret_id=self.secret_arn) from exc
        try:
            secret = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"database secret {self.secret_arn} is not JSON") from exc
        if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
            raise ConfigurationError(f"database secret {self.secret_arn} lacks 'username' and 'password'")
        return secret

    def _cached(self) -> dict[str, Any]:
        if self._secret is None:
            self._secret = self._fetch()
        return self._secret

    def conninfo(self) -> str:
        """Conninfo from the cached secret; the configured host, port and name win over the secret's."""
        secret = self._cached()
        host = self._overrides["host"] or secret.get("host")
        if not host:
            raise ConfigurationError("no database host: set SLUICE_DB_HOST or put 'host' in the secret")
        params: dict[str, Any] = {
            "host": host,
            "port": self._overrides["port"] or secret.get("port") or DEFAULT_PORT,
            "dbname": self._overrides["dbname"] or secret.get("dbname") or "postgres",
            "user": secret["username"],
            "password": secret["password"],
            "application_name": APPLICATION_NAME,
            **self._tls,
        }
        if self._connect_timeout_s:
            params["connect_timeout"] = self._connect_timeout_s
        return make_conninfo("", **params)

    def refresh(self) -> bool:
        """Drop the cached secret so the next connection reads the current (possibly rotated) one."""
        self._secret = None
        return True

    def login(self) -> tuple[str, str]:
        """The secret's username and password (the migrations function sets the writer's password from them)."""
        secret = self._cached()
        return str(secret["username"]), str(secret["password"])


class IamCredentials:
    """RDS IAM authentication: a token signed locally with the function's role for each new connection."""

    def __init__(
        self,
        *,
        host: str,
        user: str,
        dbname: str,
        port: int = DEFAULT_PORT,
        region: str | None = None,
        sslmode: SslMode = SslMode.VERIFY_FULL,
        sslrootcert: str | None = None,
        connect_timeout_s: int | None = None,
        client: RDSClient | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._user = user
        self._params: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "dbname": dbname,
            "application_name": APPLICATION_NAME,
            **_tls(sslmode, sslrootcert),
        }
        if connect_timeout_s:
            self._params["connect_timeout"] = connect_timeout_s
        self._region = region
        self._client = client

    def conninfo(self) -> str:
        """Conninfo with a fresh token as the password (tokens are valid 15 minutes; a connection outlives it)."""
        if self._client is None:
            import boto3  # noqa: PLC0415 - deferred: only IAM-authenticated functions pay for it

            self._client = boto3.client("rds", region_name=aws_region(self._region))
        try:
            token = self._client.generate_db_auth_token(
                DBHostname=self._host,
                Port=self._port,
                DBUsername=self._user,
                Region=self._region or self._client.meta.region_name,
            )
        except botocore_errors() as exc:  # classified right here from botocore's types
            raise classify_rds_token_error(exc, host=self._host) from exc
        return make_conninfo("", password=token, **self._params)

    def refresh(self) -> bool:
        """Every connection already gets a new token."""
        return False


def build_credentials(settings: ConsumerSettings) -> CredentialsProvider:
    """The credentials provider for the source the settings validated (see :class:`ConsumerSettings`)."""
    access = settings.database
    timeout = settings.db_connect_timeout_s
    match access:
        case UrlDatabase():
            return UrlCredentials(
                access.url.get_secret_value(),
                sslmode=access.sslmode,
                sslrootcert=access.sslrootcert,
                connect_timeout_s=timeout,
            )
        case SecretDatabase():
            return SecretCredentials(
                access.secret_arn,
                host=access.host,
                port=access.port,
                dbname=access.dbname,
                sslmode=access.sslmode,
                sslrootcert=access.sslrootcert,
                connect_timeout_s=timeout,
            )
        case IamDatabase():
            return IamCredentials(
                host=access.host,
                user=access.user,
                dbname=access.dbname,
                port=access.port,
                sslmode=access.sslmode,
                sslrootcert=access.sslrootcert,
                connect_timeout_s=timeout,
            )
