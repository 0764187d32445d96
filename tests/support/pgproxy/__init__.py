"""A loopback PostgreSQL proxy for tests: it reads what the client sends, flags RDS Proxy pinning, injects faults.

Put it between a psycopg client and a real server::

    with PgProxy.for_server(server_url, strict=True) as proxy:
        with psycopg.connect(proxy.route(database_url)) as conn:
            ...
        assert proxy.report().extended_protocol_used

It answers SSLRequest and GSSENCRequest with 'N' (plaintext on loopback, as ``sslmode=prefer`` accepts),
forwards StartupMessage and CancelRequest, then decodes every typed message (:mod:`tests.support.pgwire`) and
records the SQL of Query and Parse messages, whether the extended query protocol and binary parameters were
used, named prepared statements, startup parameters and RDS Proxy pinning triggers. With ``strict=True`` a
trigger fails the connection on the spot (a FATAL ErrorResponse, SQLSTATE 0A000, then close) and leaving the
``with`` block raises :class:`PinningDetectedError`, so a test fails even if the code under test swallowed the
database error.

Faults, on demand: :meth:`PgProxy.drop_connections` (optionally only mid-transaction, optionally with a FATAL
error first, as a server shutdown sends), :meth:`PgProxy.drop_on` a SQL pattern (before the statement reaches
the server, or after the server answered it and before the client hears the answer), :meth:`PgProxy.drop_after`
N messages, :meth:`PgProxy.stall` (nothing flows for T seconds), :meth:`PgProxy.refuse` new connections (the
port stops listening), :meth:`PgProxy.close_idle` client connections (as RDS Proxy does after its idle client
timeout; ``idle_client_timeout=`` does it by itself), :meth:`PgProxy.outage` (all of it: a restart) and
:meth:`PgProxy.require_password` (a password check of the proxy's own, to play a rotation: like RDS Proxy, the
proxy then logs in to the server itself, with the credentials of the URL :meth:`PgProxy.for_server` was given,
so it works in front of a trust-auth server and a password-checked one alike).

The proxy runs an asyncio loop in one daemon thread; every public method is called from the test's thread.

Modules, one concern each: :mod:`.wire` (a session's startup, passwords, cancels), :mod:`.pinning` (what would pin
an RDS Proxy session), :mod:`.report` (what was seen), :mod:`.fault_plan` and :mod:`.faults` (the armed drops and
the fault injectors), :mod:`.core` (the thread and the pumps), :mod:`.proxy` (:class:`PgProxy`).
"""

from __future__ import annotations

from tests.support.pgproxy.proxy import PgProxy
from tests.support.pgproxy.report import (
    ConnectionRecord,
    PinningDetectedError,
    PinningRecord,
    ProxyFailedError,
    ProxyReport,
    StatementRecord,
)

__all__ = [
    "ConnectionRecord",
    "PgProxy",
    "PinningDetectedError",
    "PinningRecord",
    "ProxyFailedError",
    "ProxyReport",
    "StatementRecord",
]
