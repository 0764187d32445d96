"""What the deployed functions are told: log at INFO without events, no secret in the environment, verified TLS.

Read from the synthesized templates of every stage and of dev in Secrets Manager mode. Powertools logs the whole
Lambda event, message bodies included, when ``POWERTOOLS_LOGGER_LOG_EVENT`` is on, and DEBUG logging would print
botocore's request bodies (the DLQ sends): neither may be configured. Database clients get ``verify-full`` and no
``SLUICE_DB_SSLROOTCERT``, so the settings they build verify RDS Proxy against the Amazon roots shipped in the
package (``tests/integration/security/test_tls.py`` shows that verification is real).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.stub import Stubber
from psycopg.conninfo import conninfo_to_dict

from sluice_consumer.credentials import AMAZON_ROOT_CA_BUNDLE, SecretCredentials, build_credentials
from sluice_consumer.settings import ConsumerSettings
from sluice_shared import environment as env

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest

QUIET_ENOUGH: Final = frozenset({"INFO", "WARNING", "ERROR", "CRITICAL"})
SECRET_LOOKING: Final = ("PASSWORD", "SECRET_KEY", "TOKEN", "CREDENTIAL")
FAKE_AWS: Final = {"AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_DEFAULT_REGION": "eu-west-1"}
PLACEHOLDERS: Final = {
    env.DB_HOST: "proxy.example.internal",
    env.DB_SECRET_ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sluice-AbCdEf",
}


def sluice_functions(templates: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, environment variables)`` of every Sluice function (those configured with SLUICE_* variables)."""
    for name, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            if any(variable.startswith("SLUICE_") for variable in variables):
                yield f"{name}: {logical_id}", variables


def test_every_function_logs_at_info_or_above_and_never_logs_its_event(templates: dict[str, dict[str, Any]]) -> None:
    found = dict(sluice_functions(templates))

    assert len(found) == 3 * len(templates)  # consumer, ingest, migrations in each template
    for where, variables in found.items():
        assert variables.get("POWERTOOLS_LOG_LEVEL", "INFO") in QUIET_ENOUGH, where
        assert variables.get("POWERTOOLS_LOGGER_LOG_EVENT", "false") == "false", where


def test_no_function_is_given_a_password_or_a_database_url(templates: dict[str, dict[str, Any]]) -> None:
    for where, variables in sluice_functions(templates):
        assert env.DATABASE_URL not in variables, where
        assert not [name for name in variables if any(part in name for part in SECRET_LOOKING)], where


def test_database_clients_verify_the_proxy_against_the_bundled_amazon_roots(
    templates: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fake AWS credentials and a region, as Lambda sets them: an RDS IAM token is signed locally, no call is made.
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    clients = [(where, variables) for where, variables in sluice_functions(templates) if env.DB_HOST in variables]
    bundled = str(files("sluice_consumer").joinpath(AMAZON_ROOT_CA_BUNDLE))

    assert len(clients) == 2 * len(templates)  # the consumer and the migrations
    kinds: set[str] = set()
    for where, variables in clients:
        assert variables[env.DB_SSLMODE] == "verify-full", where
        assert env.DB_SSLROOTCERT not in variables, where
        # The credentials the function builds from exactly these variables (tokens such as the proxy endpoint and
        # the secret's ARN are placeholders here); in secret mode the secret is read from a stubbed client.
        as_set = {
            name: value if isinstance(value, str) else PLACEHOLDERS.get(name, "token")
            for name, value in variables.items()
        }
        credentials = build_credentials(ConsumerSettings.model_validate(as_set))
        kinds.add(type(credentials).__name__)
        if isinstance(credentials, SecretCredentials):
            credentials._client = _stubbed_secret(as_set[env.DB_SECRET_ARN])
        params = conninfo_to_dict(credentials.conninfo())
        assert (params["sslmode"], params["sslrootcert"]) == ("verify-full", bundled), where
    assert kinds == {"IamCredentials", "SecretCredentials"}


def _stubbed_secret(arn: str) -> Any:
    client = boto3.client("secretsmanager")
    stubber = Stubber(client)
    secret = json.dumps({"username": "sluice", "password": "not-a-real-password"})
    stubber.add_response("get_secret_value", {"ARN": arn, "Name": "sluice", "SecretString": secret}, {"SecretId": arn})
    stubber.activate()
    return client
