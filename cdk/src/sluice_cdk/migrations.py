"""Deploy-time migrations: the consumer's own migration entry point, run in the VPC by a CDK trigger.

The trigger invokes ``sluice_consumer.migrate.lambda_handler`` (the function the tests and ``sluice db migrate``
use) once the database, the proxy and the network exist, and again on every deploy that changes the migration
files (its ``MigrationsDigest`` property carries a digest of them) or the function's code or configuration; it
fails the deployment when the run fails. The stack makes the consumer function and its event source depend on
the trigger, so on an update CloudFormation replaces neither before the new schema is in place.

The function runs as the schema owner and then sets how ``sluice_writer`` logs in; it gets the time a first
proxy registration can take (a timeout of at least 10 minutes of retries, ``StageConfig``).
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aws_cdk import CfnResource, Duration, triggers
from constructs import Construct

from sluice_cdk.lambdas import MIGRATIONS_HANDLER, python_function
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_cdk import aws_lambda as lambda_

    from sluice_cdk.lambdas import FunctionOptions, VpcPlacement

__all__ = [
    "DIGEST_PROPERTY",
    "MIGRATIONS_MEMORY_MIB",
    "MIGRATIONS_PACKAGE_DIR",
    "Migrations",
    "app_migrations_digest",
    "migrations_digest",
]

MIGRATIONS_MEMORY_MIB: Final = 256
# Where the migrations live inside the consumer's package (and its built asset).
MIGRATIONS_PACKAGE_DIR: Final = "sluice_consumer/migrations"
# The trigger's property holding the digest: a new value is an Update, and an Update runs the migrations.
DIGEST_PROPERTY: Final = "MigrationsDigest"


def migrations_digest(directory: Path) -> str:
    """SHA-256 over every ``*.sql`` file in ``directory``: its name and the SHA-256 of its text, in name order.

    Each file's own hash is the checksum ``sluice_consumer.migrations`` records for an applied migration.
    """
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.sql")):
        checksum = hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest()
        digest.update(f"{path.name}\0{checksum}\n".encode())
    return digest.hexdigest()


def app_migrations_digest(spec: str) -> str:
    """:func:`migrations_digest` of the application's migrations folder, named as ``SLUICE_APP_MIGRATIONS`` names it.

    ``package.module:folder`` is found through the package, installed in the CDK app's environment (as it must be
    to be built into the consumer's asset); anything else is a path.

    Raises:
        ConfigurationError: the package cannot be imported or the folder does not exist.
    """
    package, separator, folder = spec.partition(":")
    if separator and not Path(spec).exists():
        try:
            directory = Path(str(files(package).joinpath(folder)))
        except (ImportError, TypeError) as exc:
            raise ConfigurationError(f"application migrations {spec!r}: cannot import {package!r}: {exc}") from exc
    else:
        directory = Path(spec)
    if not directory.is_dir():
        raise ConfigurationError(f"application migrations {spec!r}: no such folder")
    return migrations_digest(directory)


class Migrations(Construct):
    """``function`` (consumer code, migration handler, own security group) and the ``trigger`` that runs it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        digest: str,
        options: FunctionOptions,
        placement: VpcPlacement,
        environment: Mapping[str, str],
        timeout_seconds: int,
        run_after: Sequence[Construct],
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = placement.security_group(
            self, "SecurityGroup", description="Sluice migrations: HTTPS to AWS APIs, 5432 to RDS Proxy"
        )
        self.function = python_function(
            self,
            "Function",
            code=code,
            handler=MIGRATIONS_HANDLER,
            description="Sluice migrations: applies the consumer's SQL migrations at deploy time",
            memory_mib=MIGRATIONS_MEMORY_MIB,
            timeout=Duration.seconds(timeout_seconds),
            options=options,
            environment=environment,
            placement=placement,
            security_group=self.security_group,
        )
        self.trigger = triggers.Trigger(
            self,
            "Run",
            handler=self.function,
            # The provider waits for the synchronous invocation this long: the function's whole timeout.
            timeout=Duration.seconds(timeout_seconds),
            execute_on_handler_change=True,
            execute_after=[*run_after, self.security_group],
        )
        resource = self.trigger.node.default_child
        custom = resource.node.default_child if resource is not None else None
        if not isinstance(custom, CfnResource):  # pragma: no cover - the Trigger construct's own layout
            raise TypeError("triggers.Trigger no longer wraps one CfnResource")
        custom.add_property_override(DIGEST_PROPERTY, digest)
