"""Deploy-time migration entry point: a CDK ``triggers.Trigger`` target or ``custom_resources.Provider`` handler.

Create and Update (and a plain invocation without ``RequestType``, as a Trigger makes) apply pending
migrations; Delete does nothing (the data outlives the stack). Credentials come from the same settings as
the consumer's; after the server refuses a cached secret it is re-read once.

Right after a stack is created the proxy's targets can take minutes to become available, and a new IAM
policy takes seconds to apply, so transient failures (unreachable, refused, timed out) are retried with
exponential backoff until the invocation's remaining time runs short; then the last error is raised and
the deployment fails (and rolls back) with it.

After the migrations, the same run sets how the writer role logs in (:mod:`sluice_consumer.roles`): with the
password of the writer's own secret when ``SLUICE_DB_WRITER_SECRET_ARN`` is set (Secrets Manager mode), else
with IAM (``rds_iam``). The function holds the owner's credentials; the consumer never does.

The application's own migrations (``SLUICE_APP_MIGRATIONS``) are applied after Sluice's, and when the payload
registry declares table sinks, the writer is granted what they need and every sink is checked against the
migrated schema: a sink that cannot work fails the deploy, with one line per problem, before any consumer runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sluice_consumer import runtime
from sluice_consumer.credentials import SecretCredentials
from sluice_consumer.migrations import MigrationResult, apply_migrations_with_version
from sluice_consumer.roles import WriterLogin, configure_writer_login
from sluice_consumer.sink_check import grant_and_check_sinks
from sluice_shared.errors import ConfigurationError, DatabaseAuthenticationError, TransientError
from sluice_shared.observability import build_logger
from sluice_shared.roles import WRITER_ROLE

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["PHYSICAL_RESOURCE_ID", "MigrationRun", "lambda_handler", "migrate_with_retries"]

PHYSICAL_RESOURCE_ID: Final = "sluice-schema-migrations"
RETRY_BASE_DELAY_S: Final = 2.0
RETRY_MAX_DELAY_S: Final = 20.0
# Stop retrying while this much of the invocation is left, so the last error is reported, not a timeout.
DEADLINE_MARGIN_S: Final = 15.0
# Without a Lambda context (a plain call), give up after this long.
DEFAULT_BUDGET_S: Final = 60.0

logger = build_logger("sluice-migrate")


@dataclass(frozen=True, slots=True)
class MigrationRun:
    """What one deploy-time run did: the migrations, then the writer's login."""

    result: MigrationResult
    writer: WriterLogin
    grants: list[str] = field(default_factory=list)
    """The privileges granted to the writer for the registry's sinks."""


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    """Apply pending migrations (Create/Update); return the applied names and the schema version."""
    request = event if isinstance(event, dict) else {}
    physical_id = str(request.get("PhysicalResourceId") or PHYSICAL_RESOURCE_ID)
    if request.get("RequestType") == "Delete":
        return {"PhysicalResourceId": physical_id, "Data": {}}
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    budget_s = remaining_ms() / 1000.0 - DEADLINE_MARGIN_S if callable(remaining_ms) else DEFAULT_BUDGET_S
    run = migrate_with_retries(budget_s=budget_s)
    result = run.result
    writer = run.writer.describe()
    logger.info("migrations applied", extra={"applied": result.applied, "schema_version": result.version})
    logger.info("writer login configured", extra={"writer": writer})
    if run.grants:
        logger.info("sink privileges granted", extra={"grants": run.grants})
    return {
        "PhysicalResourceId": physical_id,
        # Provider framework: Data values become Fn::GetAtt attributes, so they are strings.
        "Data": {"Applied": ",".join(result.applied), "SchemaVersion": str(result.version), "Writer": writer},
        "applied": result.applied,
        "schema_version": result.version,
    }


def migrate_with_retries(
    *,
    budget_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> MigrationRun:
    """Apply migrations, then set the writer's login, retrying transient failures for up to ``budget_s`` seconds.

    A refused password re-reads the secret once at once; later refusals (an IAM policy still propagating)
    are retried like any transient failure.

    Raises:
        TransientError: the database stayed unavailable for the whole budget (the last error).
        PermanentError: a migration failed on its SQL or a migration file was edited after being applied.
        ConfigurationError: the writer's secret is not the writer's, or the owner may not alter the writer.
    """
    credentials = runtime.get_credentials()
    settings = runtime.get_settings()
    writer_secret_arn = settings.db_writer_secret_arn
    writer_secret = SecretCredentials(writer_secret_arn) if writer_secret_arn else None
    give_up_at = clock() + budget_s
    refreshed = False
    attempt = 0
    while True:
        try:
            conninfo = credentials.conninfo()
            result = apply_migrations_with_version(conninfo, app_migrations=settings.app_migrations)
            writer = configure_writer_login(conninfo, password=_writer_password(writer_secret))
            return MigrationRun(result, writer, prepare_sinks(conninfo))
        except TransientError as exc:
            if isinstance(exc, DatabaseAuthenticationError) and not refreshed:
                refreshed = True
                if credentials.refresh():
                    continue
            delay = min(RETRY_MAX_DELAY_S, RETRY_BASE_DELAY_S * 2.0**attempt)
            attempt += 1
            if clock() + delay > give_up_at:
                raise
            logger.warning("database not ready; retrying migrations", extra={"error": str(exc), "delay_s": delay})
            sleep(delay)


def prepare_sinks(conninfo: str) -> list[str]:
    """Grant the writer what the configured registry's sinks need and check them; return the grants made.

    Raises:
        ConfigurationError: a sink cannot work against this schema (every problem named).
    """
    registry = runtime.get_registry()
    return grant_and_check_sinks(conninfo, registry) if registry.sinks else []


def _writer_password(secret: SecretCredentials | None) -> str | None:
    """The password of the writer's own secret (Secrets Manager mode), or None (IAM).

    Raises:
        ConfigurationError: the secret names another user.
        TransientError: Secrets Manager was unreachable.
    """
    if secret is None:
        return None
    username, password = secret.login()
    if username != WRITER_ROLE:
        raise ConfigurationError(f"the writer's secret {secret.secret_arn} is for {username!r}, not {WRITER_ROLE!r}")
    return password
