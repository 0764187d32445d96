"""The pool's health check: no round trip for a connection whose server has said nothing since it was used.

The pool hands out its one connection after a check, so a connection the server or RDS Proxy closed while it was
idle (a restart, a failover, an idle timeout, ``pg_terminate_backend``) is replaced before a batch is written on
it. psycopg_pool's own check sends an empty query: one round trip per invocation, the largest fixed cost of a
small batch after the write itself (through RDS Proxy, one trip to the proxy and on to the database).

A connection that is idle between invocations receives nothing unless it is being closed: the server's
``FATAL`` message (shutdown, termination) or the end of the stream arrives on the socket and makes it readable.
So the socket is polled without waiting; only when it is readable does the empty query decide (a harmless
asynchronous message, such as a parameter change, leaves the connection usable). A path that vanished without
a word (no FIN, no message) is not seen by either check: the write's own deadline and statement watchdog bound it.
Nor is a termination still on its way (the backend signalled, its ``FATAL`` not yet written): the batch then fails
on the dead connection and SQS delivers it again, as it did when the termination fell between the empty query and
the write.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

__all__ = ["check_idle_connection"]


def check_idle_connection(conn: psycopg.Connection[Any]) -> None:
    """Raise ``psycopg.OperationalError`` when ``conn`` is closed, or when the server closed it while it idled."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    try:
        spoke = bool(select.select([conn.pgconn.socket], [], [], 0)[0])
    except (OSError, ValueError):  # a descriptor select() cannot watch (beyond FD_SETSIZE): ask the server
        spoke = True
    if spoke:
        ConnectionPool.check_connection(conn)
