"""PostgreSQL connections for a Lambda execution environment: credentials, TLS, one small pool, error classes.

One :class:`Database` per execution environment owns one lazily opened ``psycopg_pool.ConnectionPool`` of a
single connection (a Lambda runs one invocation at a time), health-checked on checkout because sockets die
while an environment is frozen (without a round trip: :mod:`sluice_consumer.liveness`), with
``prepare_threshold=None`` because named prepared statements pin RDS Proxy sessions.

The pool's ``conninfo`` is a callable, so each new connection gets fresh credentials: a new RDS IAM token (valid
15 minutes), or the cached Secrets Manager secret, re-read once after the server refuses it (rotation).

Reconnection is driven by checkouts, not by the pool's background backoff. psycopg_pool retries a lost
connection with exponential backoff (1, 2, 4 ... up to 128 s apart) and a checkout only waits for it: after a
35 s outage a warm consumer kept failing whole batches for 27 s, each then waiting a visibility timeout before
SQS delivered it again. With ``reconnect_timeout=0`` the pool schedules no retries, and each checkout allows
exactly one connection attempt: a checkout that finds no connection gets a fresh attempt at once, and fails as
soon as that attempt fails (the batch is retried). During an outage every invocation fails fast; the first
one after the database is back connects.

psycopg errors are classified here, once, from their types: data and integrity errors are permanent
(:class:`ConstraintViolationError`); connection, timeout, cancel, serialization and deadlock errors are
transient (:class:`DatabaseUnavailableError`); schema and privilege errors are configuration errors.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from sluice_consumer.liveness import check_idle_connection
from sluice_consumer.settings import DEFAULT_PORT, ConsumerSettings, CredentialSource, SslMode
from sluice_shared.aws import aws_region, classify_boto_error
from sluice_shared.errors import (
    ConfigurationError,
    ConstraintViolationError,
    DatabaseAuthenticationError,
    DatabaseUnavailableError,
    MissingReferenceError,
    SluiceError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_rds import RDSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = [
    "AMAZON_ROOT_CA_BUNDLE",
    "APPLICATION_NAME",
    "CredentialsProvider",
    "Database",
    "IamCredentials",
    "SecretCredentials",
    "UrlCredentials",
    "build_credentials",
    "classify_connect_error",
    "classify_database_error",
]

APPLICATION_NAME: Final = "sluice-consumer"
# Amazon Trust Services root CAs (Amazon Root CA 1-4, Starfield Services Root G2), taken from certifi's
# Mozilla bundle. RDS Proxy presents ACM certificates that chain to them. Direct RDS instance connections
# use the RDS CA bundle instead: point SLUICE_DB_SSLROOTCERT at it.
AMAZON_ROOT_CA_BUNDLE: Final = "certs/amazon-trust-services.pem"
# How often a waiting checkout looks whether the connection attempt made for it failed.
CHECKOUT_POLL_S: Final = 0.2


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
        self.fetches = 0

    def _fetch(self) -> dict[str, Any]:
        if self._client is None:
            import boto3  # noqa: PLC0415 - deferred: ~150 ms of cold start, only for secret-based credentials

            # The secret's ARN names its region (then AWS_REGION, AWS_DEFAULT_REGION, the profile).
            self._client = boto3.client("secretsmanager", region_name=aws_region(resource=self.secret_arn))
        self.fetches += 1
        try:
            text = self._client.get_secret_value(SecretId=self.secret_arn)["SecretString"]
        except Exception as exc:  # classified right here from botocore's types and codes
            raise classify_boto_error(exc, what="database secret") from exc
        try:
            secret = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"database secret {self.secret_arn} is not JSON") from exc
        if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
            raise ConfigurationError(f"database secret {self.secret_arn} lacks 'username' and 'password'")
        return secret

    def conninfo(self) -> str:
        """Conninfo from the cached secret; the configured host, port and name win over the secret's."""
        if self._secret is None:
            self._secret = self._fetch()
        secret = self._secret
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
        if self._secret is None:
            self._secret = self._fetch()
        return str(self._secret["username"]), str(self._secret["password"])


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
                DBHostname=self._params["host"],
                Port=int(self._params["port"]),
                DBUsername=self._params["user"],
                Region=self._region or self._client.meta.region_name,
            )
        except Exception as exc:  # classified right here from botocore's types
            raise classify_boto_error(exc, what="RDS auth token") from exc
        return make_conninfo("", password=token, **self._params)

    def refresh(self) -> bool:
        """Every connection already gets a new token."""
        return False


def build_credentials(settings: ConsumerSettings) -> CredentialsProvider:
    """The credentials provider the settings describe (see :class:`ConsumerSettings`).

    Raises:
        ConfigurationError: no source, or an incomplete one, is configured.
    """
    source = settings.credential_source
    timeout = settings.db_connect_timeout_s
    if source is CredentialSource.URL:
        assert settings.database_url is not None  # noqa: S101 - guaranteed by credential_source
        return UrlCredentials(
            settings.database_url.get_secret_value(),
            sslmode=settings.db_sslmode,
            sslrootcert=settings.db_sslrootcert,
            connect_timeout_s=timeout,
        )
    sslmode = settings.db_sslmode or SslMode.VERIFY_FULL
    if source is CredentialSource.SECRET:
        assert settings.db_secret_arn is not None  # noqa: S101 - guaranteed by credential_source
        return SecretCredentials(
            settings.db_secret_arn,
            host=settings.db_host,
            port=settings.db_port,
            dbname=settings.db_name,
            sslmode=sslmode,
            sslrootcert=settings.db_sslrootcert,
            connect_timeout_s=timeout,
        )
    return IamCredentials(
        host=settings.db_host or "",
        user=settings.db_user or "",
        dbname=settings.db_name or "",
        port=settings.db_port or DEFAULT_PORT,
        sslmode=sslmode,
        sslrootcert=settings.db_sslrootcert,
        connect_timeout_s=timeout,
    )


def classify_database_error(exc: BaseException) -> SluiceError:
    """Translate a psycopg (or psycopg_pool) exception into Sluice's hierarchy, from its type alone."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, pg_errors.QueryCanceled):
        return DatabaseUnavailableError(f"statement cancelled or timed out: {exc}", sqlstate=sqlstate)
    if isinstance(exc, pg_errors.IntegrityError | pg_errors.DataError):
        diag = getattr(exc, "diag", None)
        kind = MissingReferenceError if isinstance(exc, pg_errors.ForeignKeyViolation) else ConstraintViolationError
        return kind(
            f"the database refused the row ({sqlstate}): {_first_line(exc)}",
            sqlstate=sqlstate,
            constraint=_constraint(exc, diag),
        )
    if isinstance(exc, pg_errors.InsufficientPrivilege | pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return ConfigurationError(f"database schema or privileges do not match (run `sluice db migrate`): {exc}")
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailableError(f"no database connection became available: {exc}")
    if isinstance(exc, pg_errors.OperationalError | pg_errors.InterfaceError | pg_errors.InternalError):
        # Connection refused or lost, admin shutdown, serialization failure, deadlock, out of resources.
        return DatabaseUnavailableError(f"database unavailable: {_first_line(exc)}", sqlstate=sqlstate)
    if isinstance(exc, pg_errors.ProgrammingError | pg_errors.NotSupportedError):
        return ConfigurationError(f"database refused the statement: {_first_line(exc)}")
    return DatabaseUnavailableError(f"database error ({type(exc).__name__}): {_first_line(exc)}", sqlstate=sqlstate)


def _constraint(exc: BaseException, diag: object) -> str | None:
    """The constraint's name; for a NOT NULL column, which has none, ``<table>.<column> not null``."""
    name = getattr(diag, "constraint_name", None)
    if name is None and isinstance(exc, pg_errors.NotNullViolation):
        return f"{getattr(diag, 'table_name', None)}.{getattr(diag, 'column_name', None)} not null"
    return name


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def classify_connect_error(exc: psycopg.OperationalError) -> SluiceError:
    """Classify a failure to connect: refused credentials, or an unreachable or refusing server."""
    # libpq reports no SQLSTATE for a refused connection; whether a password was sent is structural and
    # tells an authentication failure (wrong or rotated password, expired IAM token) from an unreachable host.
    pgconn = getattr(exc, "pgconn", None)
    if pgconn is not None and getattr(pgconn, "used_password", False):
        return DatabaseAuthenticationError(f"the database refused the credentials: {_first_line(exc)}")
    return DatabaseUnavailableError(f"cannot connect to the database: {_first_line(exc)}")


class _NoCheckoutWaitingError(Exception):
    """Raised instead of connecting when no checkout asked for a connection (the pool's own retry)."""


class Database:
    """The execution environment's connection pool (one connection), opened on first use.

    Each checkout allows one connection attempt (module doc): the pool's automatic retry right after a failed
    attempt is refused before anything is sent, so a refused password is tried once, not twice, and a database
    that is down sees one attempt per invocation.
    """

    def __init__(
        self,
        credentials: CredentialsProvider,
        *,
        connect_timeout_s: float = 5.0,
        max_idle_s: float = 600.0,
    ) -> None:
        self.credentials = credentials
        self.connect_timeout_s = connect_timeout_s
        self._max_idle_s = max_idle_s
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._last_connect_error: SluiceError | None = None
        # Checkouts started (each allows one connection attempt) and the last one an attempt was made for.
        self._checkouts = 0
        self._checkouts_served = 0
        # Connection attempts, numbered as they start, and the number of the last one that failed: a checkout
        # gives up once an attempt that started after it began has failed.
        self._attempts_started = 0
        self._last_failed_attempt = 0

    def _conninfo(self) -> str:
        """The pool's conninfo callable: called once per connection attempt, before connecting."""
        if self._checkouts_served >= self._checkouts:
            raise _NoCheckoutWaitingError("no checkout is waiting for a connection: the next one connects")
        self._checkouts_served = self._checkouts
        self._attempts_started += 1
        try:
            return self.credentials.conninfo()
        except SluiceError as exc:
            self._failed(exc)
            raise

    def _failed(self, error: SluiceError) -> None:
        self._last_connect_error = error
        self._last_failed_attempt = self._attempts_started

    def _open(self) -> ConnectionPool[psycopg.Connection[Any]]:
        database = self

        class _RecordingConnection(psycopg.Connection[Any]):
            """Remembers why the pool's last connection attempt failed (the pool itself only times out)."""

            @classmethod
            def connect(cls, conninfo: str = "", **kwargs: Any) -> _RecordingConnection:
                try:
                    conn = super().connect(conninfo, **kwargs)
                except psycopg.OperationalError as exc:
                    database._failed(classify_connect_error(exc))
                    raise
                database._last_connect_error = None
                return conn

        self._pool = ConnectionPool(
            self._conninfo,
            connection_class=_RecordingConnection,
            # Autocommit: a single-statement write needs no BEGIN/COMMIT round trips; multi-statement writes
            # open an explicit transaction (repository.PostgresEventStore.store).
            kwargs={"prepare_threshold": None, "autocommit": True},
            min_size=1,
            max_size=1,
            open=True,
            check=check_idle_connection,
            timeout=self.connect_timeout_s,
            # No background backoff: a checkout that finds no connection asks for one at once (module doc).
            reconnect_timeout=0,
            max_idle=self._max_idle_s,
            # One worker: a single connection needs no parallel (re)connection attempts.
            num_workers=1,
            name=APPLICATION_NAME,
        )
        return self._pool

    @contextmanager
    def connection(self, *, timeout_s: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """Check out the connection (health-checked); returned to the pool on exit.

        After the server refuses the credentials, they are refreshed once and the checkout retried once.

        Raises:
            DatabaseUnavailableError: no connection within ``timeout_s`` (default: the connect timeout).
            DatabaseAuthenticationError: the credentials were refused, even after a refresh.
        """
        conn = self._checkout(timeout_s)
        pool = self._pool
        try:
            yield conn
        finally:
            if pool is not None:
                pool.putconn(conn)

    def _checkout(self, timeout_s: float | None) -> psycopg.Connection[Any]:
        timeout = self.connect_timeout_s if timeout_s is None else max(0.1, min(timeout_s, self.connect_timeout_s))
        for attempt in (1, 2):
            # Counted before the pool may open: opening starts the first attempt, made for this checkout.
            self._checkouts += 1
            attempts_before = self._attempts_started
            pool = self._pool or self._open()
            try:
                return self._getconn(pool, deadline=time.monotonic() + timeout, attempts_before=attempts_before)
            except PoolTimeout as exc:
                error = self._last_connect_error or classify_database_error(exc)
                if attempt == 1 and isinstance(error, DatabaseAuthenticationError) and self.credentials.refresh():
                    # A rotated secret: start over with a new pool so the next attempt reads it at once.
                    self.close()
                    continue
                raise error from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _getconn(
        self, pool: ConnectionPool[psycopg.Connection[Any]], *, deadline: float, attempts_before: int
    ) -> psycopg.Connection[Any]:
        """Wait for the connection until ``deadline``, but give up as soon as an attempt made for it has failed.

        A checkout that finds the pool empty makes it start a connection attempt at once (``reconnect_timeout=0``
        leaves no backoff in the way). Once an attempt started after this checkout began has failed, waiting
        longer cannot help this invocation: the database is down or refuses our credentials (then the pool would
        only retry the same stale password). Raises ``PoolTimeout``.
        """
        while True:
            remaining = deadline - time.monotonic()
            try:
                return pool.getconn(timeout=max(0.01, min(CHECKOUT_POLL_S, remaining)))
            except PoolTimeout:
                failed_meanwhile = self._last_failed_attempt > attempts_before
                if remaining <= CHECKOUT_POLL_S or failed_meanwhile:
                    raise

    def discard(self, conn: psycopg.Connection[Any]) -> None:
        """Close a connection that failed mid-use; the pool replaces it in the background."""
        if not conn.closed:
            conn.close()

    def close(self) -> None:
        """Close the pool and its connection (``runtime.configure`` and tests call this)."""
        if self._pool is not None:
            self._pool.close(timeout=1.0)
            self._pool = None
        self._last_connect_error = None
