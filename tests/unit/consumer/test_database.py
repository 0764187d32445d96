"""Credentials providers, TLS defaults and psycopg error classification (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import boto3
import psycopg
import pytest
from botocore.stub import Stubber
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from sluice_consumer.database import (
    APPLICATION_NAME,
    IamCredentials,
    SecretCredentials,
    UrlCredentials,
    build_credentials,
    classify_connect_error,
    classify_database_error,
)
from sluice_consumer.settings import ConsumerSettings, CredentialSource, SslMode
from sluice_shared.errors import (
    ConfigurationError,
    ConstraintViolationError,
    DatabaseAuthenticationError,
    DatabaseUnavailableError,
    QueueNotFoundError,
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
    assert credentials.fetches == 2
    stubber.assert_no_pending_responses()


def test_secret_without_a_password_is_a_configuration_error(secrets: tuple[object, Stubber]) -> None:
    client, stubber = secrets
    stubber.add_response("get_secret_value", {"SecretString": json.dumps({"username": "u"})}, {"SecretId": SECRET_ARN})

    with pytest.raises(ConfigurationError, match="lacks 'username' and 'password'"):
        SecretCredentials(SECRET_ARN, client=client).conninfo()  # type: ignore[arg-type]


def test_missing_secret_is_a_permanent_error(secrets: tuple[object, Stubber]) -> None:
    client, stubber = secrets
    stubber.add_client_error("get_secret_value", "ResourceNotFoundException", "no such secret", 400)

    with pytest.raises(QueueNotFoundError, match="database secret does not exist"):
        SecretCredentials(SECRET_ARN, client=client).conninfo()  # type: ignore[arg-type]


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

    assert [s.credential_source for s in (url, secret, iam)] == [
        CredentialSource.URL,
        CredentialSource.SECRET,
        CredentialSource.IAM,
    ]
    assert isinstance(build_credentials(url), UrlCredentials)
    assert isinstance(build_credentials(secret), SecretCredentials)
    assert isinstance(build_credentials(iam), IamCredentials)


def test_settings_without_a_database_name_every_option() -> None:
    with pytest.raises(ConfigurationError, match="SLUICE_DATABASE_URL, SLUICE_DB_SECRET_ARN or SLUICE_DB_IAM_AUTH"):
        _ = ConsumerSettings().credential_source
    with pytest.raises(ConfigurationError, match="SLUICE_DB_HOST, SLUICE_DB_NAME"):
        _ = ConsumerSettings(db_iam_auth=True, db_user="u").credential_source


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
