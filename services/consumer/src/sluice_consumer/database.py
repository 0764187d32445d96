"""PostgreSQL connections for a Lambda execution environment: one small pool, opened on first use.

One :class:`Database` per execution environment owns one lazily opened ``psycopg_pool.ConnectionPool`` of a
single connection (a Lambda runs one invocation at a time), health-checked on checkout because sockets die
while an environment is frozen (without a round trip: :mod:`sluice_consumer.liveness`), with
``prepare_threshold=None`` because named prepared statements pin RDS Proxy sessions.

The pool's ``conninfo`` is a callable, so each new connection gets fresh credentials from a
:class:`~sluice_consumer.credentials.CredentialsProvider` (a new RDS IAM token, or the cached secret, re-read once
after the server refuses it).

Reconnection is driven by checkouts, not by the pool's background backoff. psycopg_pool retries a lost
connection with exponential backoff (1, 2, 4 ... up to 128 s apart) and a checkout only waits for it: after a
35 s outage a warm consumer kept failing whole batches for 27 s, each then waiting a visibility timeout before
SQS delivered it again. With ``reconnect_timeout=0`` the pool schedules no retries, and each checkout allows
exactly one connection attempt: a checkout that finds no connection gets a fresh attempt at once, and fails as
soon as that attempt fails (the batch is retried). During an outage every invocation fails fast; the first
one after the database is back connects.

A credentials provider that fails with anything but a :class:`SluiceError` has a bug: the checkout raises that
exception itself, not a transient "no connection" that would be retried as if the database were down.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from sluice_consumer.credentials import APPLICATION_NAME
from sluice_consumer.database_errors import classify_connect_error, classify_database_error
from sluice_consumer.liveness import check_idle_connection
from sluice_shared.errors import DatabaseAuthenticationError, SluiceError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sluice_consumer.credentials import CredentialsProvider

__all__ = ["Database"]

# How often a waiting checkout looks whether the connection attempt made for it failed.
CHECKOUT_POLL_S: Final = 0.2


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
        # Why the last connection attempt failed: classified, or a provider's bug (re-raised as it is).
        self._last_connect_error: Exception | None = None
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
        except Exception as exc:  # recorded for the checkout waiting for it, then raised on in the pool's worker
            self._failed(exc)
            raise

    def _failed(self, error: Exception) -> None:
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
                if not isinstance(error, SluiceError):
                    raise error from None  # the credentials provider's bug, as it was raised (its traceback kept)
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
