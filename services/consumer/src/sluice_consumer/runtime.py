"""Cached collaborators of one execution environment, built on first use and replaceable by :func:`configure`.

Nothing is built at import time: a misconfigured function fails with a clear message on its first
invocation, and tests, ``sluice consume`` and the local pipeline inject settings in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sluice_consumer.credentials import build_credentials
from sluice_consumer.database import Database
from sluice_consumer.dead_letters import NoDeadLetterQueue, SqsDeadLetterSink
from sluice_consumer.schema import SchemaGate
from sluice_consumer.settings import ConsumerSettings
from sluice_consumer.store import PostgresEventStore
from sluice_consumer.telemetry import SERVICE
from sluice_shared.contract import field_errors
from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from sluice_consumer.credentials import CredentialsProvider
    from sluice_consumer.logic import DeadLetterSink, EventStore
    from sluice_shared.errors import SchemaBehindError
    from sluice_shared.registry import PayloadRegistry

__all__ = [
    "configure",
    "get_credentials",
    "get_database",
    "get_dead_letter_sink",
    "get_event_store",
    "get_registry",
    "get_settings",
    "load_settings",
]


@dataclass(slots=True)
class _Cache:
    settings: ConsumerSettings | None = None
    registry: PayloadRegistry | None = None
    credentials: CredentialsProvider | None = None
    database: Database | None = None
    store: EventStore | None = None
    dead_letters: DeadLetterSink | None = None


_cache = _Cache()


def configure(
    settings: ConsumerSettings | None = None,
    *,
    store: EventStore | None = None,
    dead_letters: DeadLetterSink | None = None,
) -> None:
    """Replace the cached settings and drop every cached collaborator, closing the pool.

    ``None`` goes back to reading the environment on next use. ``store`` and ``dead_letters`` replace the
    PostgreSQL store and the SQS sink (tests, local runs).
    """
    global _cache  # noqa: PLW0603 - one cache per execution environment, by design
    if _cache.database is not None:
        _cache.database.close()
    _cache = _Cache(settings=settings, store=store, dead_letters=dead_letters)


def get_settings() -> ConsumerSettings:
    """The settings (read from the environment once, unless :func:`configure` set them).

    Raises:
        ConfigurationError: an environment variable has an invalid value (named in the message).
    """
    if _cache.settings is None:
        _cache.settings = load_settings()
    return _cache.settings


def load_settings(**overrides: Any) -> ConsumerSettings:
    """Settings from the environment, with ``overrides`` (field names) winning.

    Raises:
        ConfigurationError: a value is invalid (the variable or field is named in the message).
    """
    try:
        return ConsumerSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(str(error) for error in field_errors(exc))
        raise ConfigurationError(f"invalid consumer settings: {problems}") from exc


def get_registry() -> PayloadRegistry:
    """The payload registry the settings name (the built-in catalog by default)."""
    if _cache.registry is None:
        _cache.registry = get_settings().build_registry()
    return _cache.registry


def get_credentials() -> CredentialsProvider:
    """The database credentials provider the settings describe."""
    if _cache.credentials is None:
        _cache.credentials = build_credentials(get_settings())
    return _cache.credentials


def get_database() -> Database:
    """The execution environment's database (its pool opens on first checkout)."""
    if _cache.database is None:
        _cache.database = Database(get_credentials(), connect_timeout_s=get_settings().db_connect_timeout_s)
    return _cache.database


def get_event_store() -> EventStore:
    """The PostgreSQL event store, behind the schema gate (it writes only once the migrations it needs ran)."""
    if _cache.store is None:
        _cache.store = PostgresEventStore(
            get_database(),
            statement_timeout_ms=get_settings().db_statement_timeout_ms,
            schema_gate=SchemaGate(on_behind=_log_schema_behind),
            sinks=[sink for _event_type, _version, sink in get_registry().sinks],
        )
    return _cache.store


def _log_schema_behind(error: SchemaBehindError) -> None:
    # Once per execution environment (cold start): every batch is retried until the migrations ran.
    from aws_lambda_powertools import Logger  # noqa: PLC0415 - already imported by the handler

    Logger(service=SERVICE, child=True).warning(
        "database schema is behind this code: batches are retried until the migrations run",
        extra={"missing_migrations": list(error.missing), "error": error.message},
    )


def get_dead_letter_sink() -> DeadLetterSink:
    """The SQS dead-letter sink, or one that reports every letter back when no DLQ is configured."""
    if _cache.dead_letters is None:
        dlq_url = get_settings().dlq_url
        _cache.dead_letters = SqsDeadLetterSink(dlq_url) if dlq_url else NoDeadLetterQueue()
    return _cache.dead_letters
