"""Names of the environment variables Sluice reads, shared by the settings models and the CDK app.

Settings read them through ``validation_alias``; ``cdk/`` sets them on the functions it deploys. Keeping the
names here means a rename cannot silently disconnect the two. Powertools reads its own ``POWERTOOLS_*``
variables (service name, log level, metrics namespace, tracing) directly; botocore reads the standard ``AWS_*``
ones (credentials, profile, config file) itself, except the few below that Sluice resolves before it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APP_MIGRATIONS",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_REGION",
    "BATCH_DEADLINE_MARGIN_MS",
    "CORRELATION_ID_HEADER",
    "DATABASE_URL",
    "DB_CONNECT_TIMEOUT_S",
    "DB_HOST",
    "DB_IAM_AUTH",
    "DB_NAME",
    "DB_PORT",
    "DB_SECRET_ARN",
    "DB_SSLMODE",
    "DB_SSLROOTCERT",
    "DB_STATEMENT_TIMEOUT_MS",
    "DB_USER",
    "DB_WRITER_PASSWORD",
    "DB_WRITER_SECRET_ARN",
    "DLQ_URL",
    "FIFO_GROUP_FIELD",
    "INGEST_MAX_EVENTS",
    "MAX_BODY_BYTES",
    "MAX_RECEIVE_COUNT",
    "PAYLOAD_REGISTRY",
    "PLAN_BENCH_RESULTS",
    "PLAN_PRICES",
    "PUSH_CONCURRENCY",
    "QUEUE_URL",
    "REDACT_FIELDS",
    "TRACING",
    "UNKNOWN_EVENT_TYPES",
]

# --- contract (every unit) ---
PAYLOAD_REGISTRY: Final = "SLUICE_PAYLOAD_REGISTRY"
UNKNOWN_EVENT_TYPES: Final = "SLUICE_UNKNOWN_EVENT_TYPES"
MAX_BODY_BYTES: Final = "SLUICE_MAX_BODY_BYTES"
REDACT_FIELDS: Final = "SLUICE_REDACT_FIELDS"
TRACING: Final = "SLUICE_TRACING"

# --- queues ---
QUEUE_URL: Final = "SLUICE_QUEUE_URL"
DLQ_URL: Final = "SLUICE_DLQ_URL"
FIFO_GROUP_FIELD: Final = "SLUICE_FIFO_GROUP_FIELD"
PUSH_CONCURRENCY: Final = "SLUICE_PUSH_CONCURRENCY"  # `sluice push`: SendMessageBatch calls in flight at once

# --- ingest ---
INGEST_MAX_EVENTS: Final = "SLUICE_INGEST_MAX_EVENTS"
CORRELATION_ID_HEADER: Final = "SLUICE_CORRELATION_ID_HEADER"

# --- database (consumer, migrations, CLI) ---
DATABASE_URL: Final = "SLUICE_DATABASE_URL"
DB_SECRET_ARN: Final = "SLUICE_DB_SECRET_ARN"  # noqa: S105 - the name of a variable, not a secret
DB_HOST: Final = "SLUICE_DB_HOST"
DB_PORT: Final = "SLUICE_DB_PORT"
DB_NAME: Final = "SLUICE_DB_NAME"
DB_USER: Final = "SLUICE_DB_USER"
# The migrations function (secret mode) sets the writer's password from this secret; `sluice db migrate` from
# DB_WRITER_PASSWORD. Neither is ever given to the consumer.
DB_WRITER_SECRET_ARN: Final = "SLUICE_DB_WRITER_SECRET_ARN"  # noqa: S105 - the name of a variable
DB_WRITER_PASSWORD: Final = "SLUICE_DB_WRITER_PASSWORD"  # noqa: S105 - the name of a variable
# The application's migrations (its sink tables): 'package.module:folder' or a path (migrations, CLI).
APP_MIGRATIONS: Final = "SLUICE_APP_MIGRATIONS"
DB_IAM_AUTH: Final = "SLUICE_DB_IAM_AUTH"
DB_SSLMODE: Final = "SLUICE_DB_SSLMODE"
DB_SSLROOTCERT: Final = "SLUICE_DB_SSLROOTCERT"
DB_CONNECT_TIMEOUT_S: Final = "SLUICE_DB_CONNECT_TIMEOUT_S"
DB_STATEMENT_TIMEOUT_MS: Final = "SLUICE_DB_STATEMENT_TIMEOUT_MS"
BATCH_DEADLINE_MARGIN_MS: Final = "SLUICE_BATCH_DEADLINE_MARGIN_MS"
MAX_RECEIVE_COUNT: Final = "SLUICE_MAX_RECEIVE_COUNT"

# --- AWS's standard names (AWS SDKs and CLI reference, "Environment variables") ---
# botocore reads AWS_DEFAULT_REGION only; AWS_REGION (what Lambda and the other SDKs set) wins over it, as in
# the AWS CLI v2. The endpoint variables are read to know whether an endpoint is configured at all.
AWS_REGION: Final = "AWS_REGION"
AWS_DEFAULT_REGION: Final = "AWS_DEFAULT_REGION"
AWS_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
AWS_ENDPOINT_URL_SQS: Final = "AWS_ENDPOINT_URL_SQS"
AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: Final = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"

# --- sluice plan (CLI) ---
PLAN_PRICES: Final = "SLUICE_PLAN_PRICES"
PLAN_BENCH_RESULTS: Final = "SLUICE_PLAN_BENCH_RESULTS"
