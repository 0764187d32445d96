"""Deploy-time migration entry point: a CDK ``triggers.Trigger`` target or ``custom_resources.Provider`` handler.

Create and Update (and a plain invocation without ``RequestType``, as a Trigger makes) apply pending
migrations; Delete does nothing (the data outlives the stack). Credentials come from the same settings as
the consumer's; after the server refuses a cached secret it is re-read once.
"""

from __future__ import annotations

from typing import Any, Final

from sluice_consumer import runtime
from sluice_consumer.migrations import MigrationResult, apply_migrations_with_version
from sluice_shared.errors import DatabaseAuthenticationError
from sluice_shared.observability import build_logger

__all__ = ["PHYSICAL_RESOURCE_ID", "lambda_handler"]

PHYSICAL_RESOURCE_ID: Final = "sluice-schema-migrations"

logger = build_logger("sluice-migrate")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:  # noqa: ARG001 - Lambda's signature
    """Apply pending migrations (Create/Update); return the applied names and the schema version."""
    request = event if isinstance(event, dict) else {}
    physical_id = str(request.get("PhysicalResourceId") or PHYSICAL_RESOURCE_ID)
    if request.get("RequestType") == "Delete":
        return {"PhysicalResourceId": physical_id, "Data": {}}
    result = _migrate()
    logger.info("migrations applied", extra={"applied": result.applied, "schema_version": result.version})
    return {
        "PhysicalResourceId": physical_id,
        # Provider framework: Data values become Fn::GetAtt attributes, so they are strings.
        "Data": {"Applied": ",".join(result.applied), "SchemaVersion": str(result.version)},
        "applied": result.applied,
        "schema_version": result.version,
    }


def _migrate() -> MigrationResult:
    credentials = runtime.get_credentials()
    try:
        return apply_migrations_with_version(credentials.conninfo())
    except DatabaseAuthenticationError:
        if not credentials.refresh():
            raise
        return apply_migrations_with_version(credentials.conninfo())
