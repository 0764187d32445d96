"""The test proxy's fault injectors: drop, stall, refuse, close idle connections, require a password, an outage.

Each method is called from the test's thread and acts on the proxy's thread (:meth:`ProxyCore._call`); the drops
it arms are a :class:`~tests.support.pgproxy.fault_plan.FaultPlan`, which the core consults for each message.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING

from tests.support.pgproxy.core import ProxyCore
from tests.support.pgproxy.fault_plan import DropRule
from tests.support.pgproxy.wire import ADMIN_SHUTDOWN, ADMIN_SHUTDOWN_MESSAGE, send_fatal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from tests.support.pgproxy.wire import Session

__all__ = ["FaultInjection"]


class FaultInjection(ProxyCore):
    """The faults a test injects, on demand (see :mod:`tests.support.pgproxy`)."""

    def drop_connections(self, *, in_transaction_only: bool = False, sqlstate: str | None = None) -> int:
        """Drop client connections now (both sides closed); returns how many.

        ``in_transaction_only`` spares connections that are idle outside a transaction. With ``sqlstate``
        (``"57P01"`` is what a server shutdown or ``pg_terminate_backend`` sends) the client first receives a
        FATAL ErrorResponse, so psycopg raises that SQLSTATE's class instead of a bare connection error.
        """

        async def drop() -> int:
            chosen = [s for s in self._live_sessions() if s.in_transaction or not in_transaction_only]
            for session in chosen:
                if sqlstate is not None:
                    send_fatal(session, sqlstate=sqlstate, message=ADMIN_SHUTDOWN_MESSAGE)
                self._abort(session, "dropped on request", graceful=sqlstate is not None)
            await _closed(chosen)
            return len(chosen)

        return self._call(drop)

    def drop_on(self, pattern: str, *, after_reply: bool = False, times: int = 1) -> None:
        """Drop the connection whose next statement matches ``pattern`` (a regex, case-insensitive).

        By default the statement never reaches the server. With ``after_reply`` it runs, the server answers
        (the answer to ``COMMIT`` means committed), and the connection drops before the client hears anything:
        the client cannot know whether its work was done. Applies to the next ``times`` matches.
        """
        rule = DropRule(re.compile(pattern, re.IGNORECASE), after_reply, times)

        async def arm() -> None:
            self._fault_plan.drop_rules.append(rule)

        self._call(arm)

    def drop_after(self, messages: int) -> None:
        """Forward the next ``messages`` client messages, then drop the connection that sends one more."""

        async def arm() -> None:
            self._fault_plan.drop_after = messages

        self._call(arm)

    def stall(self, seconds: float, *, let_cancels_through: bool = False) -> None:
        """Forward nothing, in either direction, for ``seconds``; new connections wait too.

        This is a hung peer, not a dead network: the kernel still acknowledges every byte, so TCP keepalives and
        ``tcp_user_timeout`` never fire; only client-side timers can. With ``let_cancels_through`` a
        CancelRequest (its own connection) still reaches the server, whose answer then waits for the stall.
        """

        async def pause() -> None:
            assert self._flowing is not None
            self._cancels_pass_stall = let_cancels_through
            self._flowing.clear()
            if self._stall_timer is not None:
                self._stall_timer.cancel()
            self._stall_timer = asyncio.get_running_loop().call_later(seconds, self._flowing.set)
            self._seen.faults.append(f"stalled for {seconds} s")

        self._call(pause)

    def resume(self) -> None:
        """End a stall early."""

        async def flow() -> None:
            assert self._flowing is not None
            if self._stall_timer is not None:
                self._stall_timer.cancel()
            self._flowing.set()

        self._call(flow)

    def refuse(self, refusing: bool = True) -> None:
        """Stop (or resume) listening: new connections are refused by the operating system."""
        self._call(self._stop_listening if refusing else self._listen)

    def require_password(self, password: str | Callable[[str], bool] | None) -> None:
        """From now on, new connections must present ``password`` (``None``: no check); open ones carry on.

        ``password`` may be a predicate instead: an RDS IAM token, say, is different on every connection.

        The proxy asks for it itself (AuthenticationCleartextPassword) and answers a wrong one with FATAL 28P01:
        libpq reports a refused password (``pgconn.used_password`` is true), as it would from RDS Proxy. A client
        it lets in is logged in to the server by the proxy, as :attr:`upstream_user` with the upstream password
        (trust, cleartext, MD5 or SCRAM-SHA-256), whatever user and password the client presented.
        """

        async def change() -> None:
            self._password = password
            self._seen.faults.append("password changed" if password is not None else "password check off")

        self._call(change)

    def close_idle(self) -> int:
        """Close client connections idle outside a transaction, as RDS Proxy does; returns how many."""

        async def close() -> int:
            closed = self._close_idle(older_than=0.0)
            await _closed(closed)
            return len(closed)

        return self._call(close)

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The database goes away for the duration of the block, as in a restart.

        Every connection gets FATAL 57P01 (what a shutting-down server sends) and closes, and new connections
        are refused until the block ends.
        """
        self.refuse(True)
        self.drop_connections(sqlstate=ADMIN_SHUTDOWN)
        try:
            yield
        finally:
            self.refuse(False)


async def _closed(sessions: Sequence[Session]) -> None:
    """Wait until the client sockets of ``sessions`` are closed: a connection dropped or closed "now" is closed when
    the call returns, so the client's next checkout can already see the end of the stream (as after a restart or
    an idle timeout that happened between two invocations)."""
    await asyncio.gather(*(session.client_writer.wait_closed() for session in sessions), return_exceptions=True)
