"""Credentials providers, TLS defaults and psycopg error classification (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import boto3
import psycopg
import pytest
from botocore.exceptions import NoCredentialsError, ParamValidationError
from botocore.stub import Stubber
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from sluice_consumer.credentials import (
    APPLICATION_NAME,
    IamCredentials,
    SecretCredentials,
    UrlCredentials,
    build_credentials,
)
from sluice_consumer.database_errors import classify_connect_error, classify_database_error
from sluice_consumer.settings import ConsumerSettings, IamDatabase, SecretDatabase, SslMode, UrlDatabase
from sluice_shared.errors import (
    ConfigurationError,
    ConstraintViolationError,
    CredentialsError,
    DatabaseAuthenticationError,
    DatabaseUnavailableError,
    PermanentError,
    RdsAuthTokenError,
    SecretNotFoundError,
    SecretsManagerUnavailableError,
)
from tests.support.sqs import FAKE_CREDENTIALS

if TYPE_CHECKING:
    from collections.abc import Iterator

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
SECRET = {"username": "sluice", "password": "p@ss word", "host": "db.internal", "port": 5432, "dbname": "app"}


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def secrets() -> Iterator[tuple[object, Stubber]]:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber


def parsed(conninfo: str) -> dict[str, object]:
    return dict(conninfo_to_dict(conninfo))


def test_url_gets_prefer_tls_and_application_name_unless_it_says_otherwise() -> None:
    plain = parsed(UrlCredentials("postgresql://u@h:5432/d", connect_timeout_s=5).conninfo())
    own = parsed(UrlCredentials("postgresql://u@h/d?sslmode=disable&application_name=me").conninfo())

    assert (plain["sslmode"], plain["application_name"], plain["connect_timeout"]) == ("prefer", APPLICATION_NAME, "5")
    assert (own["sslmode"], own["application_name"]) == ("disable", "me")


def test_verify_full_points_at_the_bundled_amazon_roots() -> None:
    info = parsed(UrlCredentials("postgresql://u@h/d", sslmode=SslMode.VERIFY_FULL).conninfo())

    assert info["sslmode"] == "verify-full"
    assert Path(str(info["sslrootcert"])).name == "amazon-trust-services.pem"
    assert Path(str(info["sslrootcert"])).is_file()


def test_invalid_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="invalid database URL"):
        UrlCredentials("postgresql://u@h/d?bogus=1")


def test_secret_is_read_once_and_re_read_after_a_refresh(secrets: tuple[object, Stubber]) -> None:
    client, stubber = secrets
    rotated = {**SECRET, "password": "new"}
    stubber.add_response("get_secret_value", {"SecretString": json.dumps(SECRET)}, {"SecretId": SECRET_ARN})
    stubber.add_response("get_secret_value", {"SecretString": json.dumps(rotated)}, {"SecretId": SECRET_ARN})
    credentials = SecretCredentials(SECRET_ARN, host="proxy.example", client=client)  # type: ignore[arg-type]

    first, again = parsed(credentials.conninfo()), parsed(credentials.conninfo())
    assert credentials.refresh() is True
    after = parsed(credentials.conninfo())

    assert first == again
    identity = (first["host"], first["user"], first["password"], first["dbname"])
    assert identity == ("proxy.example", "sluice", "p@ss word", "app")
    assert (first["sslmode"], Path(str(first["sslrootcert"])).name) == ("verify-full", "amazon-trust-services.pem")
    assert after["password"] == "new"
    stubber.assert_no_pending_responses()  # exactly two reads: a third would find no stubbed response


def test_secret_without_a_password_is_a_configuration_error(secrets: tuple[object, Stubber]) -> None:
    client, stubber = secrets
    stubber.add_response("get_secret_value", {"SecretString": json.dumps({"username": "u"})}, {"SecretId": SECRET_ARN})

    with pytest.raises(ConfigurationError, match="lacks 'username' and 'password'"):
        SecretCredentials(SECRET_ARN, client=client).conninfo()  # type: ignore[arg-type]


def test_missing_secret_is_a_permanent_secret_error(secrets: tuple[object, Stubber]) -> None:
    client, stubber = secrets
    stubber.add_client_error("get_secret_value", "ResourceNotFoundException", "no such secret", 400)

    with pytest.raises(SecretNotFoundError, match=f"secret {SECRET_ARN} does not exist") as raised:
        SecretCredentials(SECRET_ARN, client=client).conninfo()  # type: ignore[arg-type]

    assert isinstance(raised.value, PermanentError)


def test_throttled_secrets_manager_is_a_transient_secret_error(secrets: tuple[object, Stubber]) -> None:
    client, stubber = secrets
    stubber.add_client_error("get_secret_value", "ThrottlingException", "slow down", 400)

    with pytest.raises(SecretsManagerUnavailableError, match=r"secret arn\S+ unavailable \(ThrottlingException\)"):
        SecretCredentials(SECRET_ARN, client=client).conninfo()  # type: ignore[arg-type]


class _BrokenClient:
    """A client whose call fails with an exception that is not botocore's: a bug, never an outage."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.meta = SimpleNamespace(region_name="us-east-1")

    def get_secret_value(self, **_: object) -> dict[str, str]:
        raise self.error

    def generate_db_auth_token(self, **_: object) -> str:
        raise self.error


def test_a_secret_client_bug_propagates_unchanged() -> None:
    bug = KeyError("SecretString")

    with pytest.raises(KeyError) as raised:
        SecretCredentials(SECRET_ARN, client=_BrokenClient(bug)).conninfo()  # type: ignore[arg-type]

    assert raised.value is bug


def test_an_rds_token_bug_propagates_unchanged() -> None:
    bug = TypeError("generate_db_auth_token() got an unexpected keyword argument")
    credentials = IamCredentials(host="h", user="u", dbname="d", client=_BrokenClient(bug))  # type: ignore[arg-type]

    with pytest.raises(TypeError) as raised:
        credentials.conninfo()

    assert raised.value is bug


@pytest.mark.parametrize(
    ("failure", "expected"),
    [(NoCredentialsError(), CredentialsError), (ParamValidationError(report="bad port"), RdsAuthTokenError)],
)
def test_an_rds_token_that_cannot_be_signed_is_a_permanent_error_naming_rds_auth(
    failure: Exception, expected: type[PermanentError]
) -> None:
    credentials = IamCredentials(host="proxy.example", user="u", dbname="d", client=_BrokenClient(failure))  # type: ignore[arg-type]

    with pytest.raises(expected, match=r"RDS IAM auth token for proxy\.example") as raised:
        credentials.conninfo()

    assert raised.value.__cause__ is failure


def test_iam_credentials_mint_a_signed_token_for_each_connection() -> None:
    client = boto3.client("rds", region_name="us-east-1")
    credentials = IamCredentials(host="proxy.example", user="sluice", dbname="app", client=client)  # type: ignore[arg-type]

    info = parsed(credentials.conninfo())

    token = str(info["password"])
    assert token.startswith("proxy.example:5432/?Action=connect&DBUser=sluice&")
    assert "X-Amz-Signature=" in token
    assert (info["user"], info["sslmode"]) == ("sluice", "verify-full")
    assert credentials.refresh() is False


def test_settings_pick_the_credentials_source() -> None:
    url = ConsumerSettings(database_url="postgresql://u@h/d")  # type: ignore[arg-type]
    secret = ConsumerSettings(db_secret_arn=SECRET_ARN)
    iam = ConsumerSettings(db_iam_auth=True, db_host="h", db_user="u", db_name="d")

    assert [type(s.database) for s in (url, secret, iam)] == [UrlDatabase, SecretDatabase, IamDatabase]
    assert [s.database.kind for s in (url, secret, iam)] == ["url", "secret", "iam"]
    assert isinstance(build_credentials(url), UrlCredentials)
    assert isinstance(build_credentials(secret), SecretCredentials)
    assert isinstance(build_credentials(iam), IamCredentials)


def test_settings_without_a_database_fail_when_they_load_and_name_every_option() -> None:
    with pytest.raises(ValidationError, match="SLUICE_DATABASE_URL, SLUICE_DB_SECRET_ARN or SLUICE_DB_IAM_AUTH"):
        ConsumerSettings()
    with pytest.raises(ValidationError, match="SLUICE_DB_HOST, SLUICE_DB_NAME"):
        ConsumerSettings(db_iam_auth=True, db_user="u")


def test_the_source_keeps_the_precedence_url_then_secret_then_iam_and_its_tls_defaults() -> None:
    everything = {"db_secret_arn": SECRET_ARN, "db_iam_auth": True, "db_host": "h", "db_user": "u", "db_name": "d"}

    url = ConsumerSettings(database_url="postgresql://u@h/d", **everything)  # type: ignore[arg-type]
    secret = ConsumerSettings(**everything)  # type: ignore[arg-type]
    iam = ConsumerSettings(db_iam_auth=True, db_host="h", db_user="u", db_name="d", db_port=6432)

    assert isinstance(url.database, UrlDatabase)
    assert url.database.sslmode is None  # the URL's own sslmode, else prefer
    assert isinstance(secret.database, SecretDatabase)
    assert (secret.database.host, secret.database.port, secret.database.sslmode) == ("h", None, SslMode.VERIFY_FULL)
    assert isinstance(iam.database, IamDatabase)
    assert (iam.database.port, iam.database.sslmode) == (6432, SslMode.VERIFY_FULL)


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_DB_SECRET_ARN", SECRET_ARN)
    monkeypatch.setenv("SLUICE_DB_SSLMODE", "verify-ca")
    monkeypatch.setenv("SLUICE_BATCH_DEADLINE_MARGIN_MS", "1500")
    monkeypatch.setenv("SLUICE_DLQ_URL", "https://sqs/1/dlq")

    settings = ConsumerSettings()

    assert (settings.db_secret_arn, settings.db_sslmode, settings.batch_deadline_margin_ms, settings.dlq_url) == (
        SECRET_ARN,
        SslMode.VERIFY_CA,
        1500,
        "https://sqs/1/dlq",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (pg_errors.CheckViolation("check"), ConstraintViolationError),
        (pg_errors.InvalidTextRepresentation("bad json"), ConstraintViolationError),
        (pg_errors.NotNullViolation("null"), ConstraintViolationError),
        (pg_errors.QueryCanceled("canceled"), DatabaseUnavailableError),
        (pg_errors.SerializationFailure("serialize"), DatabaseUnavailableError),
        (pg_errors.DeadlockDetected("deadlock"), DatabaseUnavailableError),
        (pg_errors.AdminShutdown("terminating connection"), DatabaseUnavailableError),
        (psycopg.OperationalError("server closed the connection unexpectedly"), DatabaseUnavailableError),
        (psycopg.InterfaceError("the connection is closed"), DatabaseUnavailableError),
        (PoolTimeout("couldn't get a connection"), DatabaseUnavailableError),
        (pg_errors.UndefinedTable("relation events does not exist"), ConfigurationError),
        (pg_errors.InsufficientPrivilege("permission denied"), ConfigurationError),
    ],
)
def test_psycopg_errors_are_classified_by_type(exc: Exception, expected: type[Exception]) -> None:
    assert type(classify_database_error(exc)) is expected


@pytest.mark.parametrize(
    ("used_password", "expected"), [(True, DatabaseAuthenticationError), (False, DatabaseUnavailableError)]
)
def test_refused_connection_is_an_authentication_error_only_when_a_password_was_sent(
    used_password: bool, expected: type[Exception]
) -> None:
    exc = psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "sluice"',
        pgconn=SimpleNamespace(used_password=used_password),  # type: ignore[arg-type]
    )

    assert type(classify_connect_error(exc)) is expected
