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
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeVar

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.pgauth import (
    AUTH_CLEARTEXT,
    AUTH_MD5,
    AUTH_OK,
    AUTH_SASL,
    AUTH_SASL_CONTINUE,
    AUTH_SASL_FINAL,
    ScramClient,
    md5_password,
    password_message,
    startup_message,
)
from tests.support.pgwire import (
    FRONTEND_NAMES,
    HEADER_BYTES,
    LENGTH_BYTES,
    FrontendMessage,
    InitialKind,
    InitialMessage,
    PinningKind,
    PinningTrigger,
    ProtocolError,
    cleartext_password_request,
    decode_frontend,
    error_response,
    frame_messages,
    password_of,
    pinning_triggers,
    read_initial,
    startup_triggers,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
    from types import TracebackType

__all__ = [
    "ConnectionRecord",
    "PgProxy",
    "PinningDetectedError",
    "PinningRecord",
    "ProxyFailedError",
    "ProxyReport",
    "StatementRecord",
]

T = TypeVar("T")

READ_CHUNK: Final = 65_536
# Generous: a call waits at most this long for the proxy's thread to act (it normally answers in microseconds).
CALL_TIMEOUT_SECONDS: Final = 10.0
# SQLSTATEs the proxy puts in the errors it sends (PostgreSQL docs, Appendix A).
FEATURE_NOT_SUPPORTED: Final = "0A000"
ADMIN_SHUTDOWN: Final = "57P01"
CONNECTION_FAILURE: Final = "08006"
INVALID_PASSWORD: Final = "28P01"
ADMIN_SHUTDOWN_MESSAGE: Final = "terminating connection due to administrator command"
# Messages each answered by exactly one ReadyForQuery: a connection with none outstanding is idle.
_ANSWERED_BY_READY: Final = frozenset({"Q", "S", "F"})
_INSPECTED: Final = frozenset(b"QPBCDE")
_READY_FOR_QUERY: Final = ord("Z")
# CopyInResponse, CopyOutResponse, CopyBothResponse: steps of the COPY sub-protocol the client must see to go
# on (stream its rows), not answers; swallowing them would leave client and server waiting on each other.
_COPY_RESPONSES: Final = frozenset({ord("G"), ord("H"), ord("W")})
_IN_TRANSACTION: Final = frozenset({"T", "E"})


class PinningDetectedError(AssertionError):
    """The client sent something that would pin its RDS Proxy session."""


class ProxyFailedError(AssertionError):
    """The proxy itself failed (a bug in the test tool, not in the code under test)."""


@dataclass(frozen=True)
class StatementRecord:
    """One SQL text the client sent: over the simple (Query) or extended (Parse) protocol."""

    connection: int
    protocol: Literal["simple", "extended"]
    sql: str


@dataclass(frozen=True)
class PinningRecord:
    """One pinning trigger, on which connection, and whether the strict proxy failed that connection for it."""

    connection: int
    trigger: PinningTrigger
    enforced: bool

    def __str__(self) -> str:
        return f"connection {self.connection}: {self.trigger}"


@dataclass(frozen=True)
class ConnectionRecord:
    """One client connection: its startup parameters and who ended it (``None`` while open)."""

    id: int
    startup_parameters: Mapping[str, str]
    closed_by: str | None


@dataclass(frozen=True)
class ProxyReport:
    """Everything the proxy saw since it started (or since :meth:`PgProxy.reset`)."""

    connections: tuple[ConnectionRecord, ...]
    statements: tuple[StatementRecord, ...]
    pinning: tuple[PinningRecord, ...]
    extended_protocol_used: bool
    binary_parameters_used: bool
    named_statements: tuple[str, ...]
    message_counts: Mapping[str, int]
    cancel_requests: int
    faults: tuple[str, ...]
    proxy_errors: tuple[str, ...]

    @property
    def sql(self) -> tuple[str, ...]:
        """The SQL texts in the order they were sent."""
        return tuple(record.sql for record in self.statements)

    def pinning_kinds(self) -> set[PinningKind]:
        """The kinds of pinning trigger seen."""
        return {record.trigger.kind for record in self.pinning}

    def summary(self) -> str:
        """A few lines for a test failure or a printout."""
        lines = [
            (
                f"connections: {len(self.connections)}, statements: {len(self.statements)}, "
                f"extended protocol: {self.extended_protocol_used}, "
                f"binary parameters: {self.binary_parameters_used}, named statements: {list(self.named_statements)}"
            ),
            f"messages: {dict(sorted(self.message_counts.items()))}",
        ]
        lines.extend(f"pinning: {record}" for record in self.pinning)
        lines.extend(f"fault: {fault}" for fault in self.faults)
        lines.extend(f"proxy error: {error}" for error in self.proxy_errors)
        return "\n".join(lines)


@dataclass
class _DropRule:
    pattern: re.Pattern[str]
    after_reply: bool
    remaining: int


@dataclass
class _Session:
    """One client connection and, once started up, its upstream connection."""

    id: int
    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    upstream_writer: asyncio.StreamWriter | None = None
    startup_parameters: dict[str, str] = field(default_factory=dict)
    pending: int = 0  # messages sent that still await their ReadyForQuery
    tx_status: str = ""  # from the last ReadyForQuery: I idle, T in a transaction, E in a failed one
    last_activity: float = 0.0
    swallow_replies: bool = False  # a drop after the server's reply is armed: nothing more reaches the client
    closed_by: str | None = None

    @property
    def idle(self) -> bool:
        return self.tx_status == "I" and self.pending == 0 and self.closed_by is None

    @property
    def in_transaction(self) -> bool:
        return self.closed_by is None and (self.tx_status in _IN_TRANSACTION or self.pending > 0)


class PgProxy:
    """A PostgreSQL wire-protocol proxy on loopback for tests (see the module docstring)."""

    def __init__(
        self,
        *,
        upstream: str = "127.0.0.1:5432",
        strict: bool = False,
        allow: Collection[PinningKind] = (),
        idle_client_timeout: float | None = None,
        password: str | Callable[[str], bool] | None = None,
        upstream_user: str | None = None,
        upstream_password: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        upstream_host, _, upstream_port = upstream.rpartition(":")
        if not upstream_host or not upstream_port.isdigit():
            raise ValueError(f"upstream must look like 'host:port', not {upstream!r}")
        self.upstream = (upstream_host, int(upstream_port))
        self.strict = strict
        self.allow = frozenset(allow)
        self.idle_client_timeout = idle_client_timeout
        self._password = password
        self.upstream_user = upstream_user
        self._upstream_password = upstream_password
        self.host = host
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Everything below is touched only on the proxy's thread.
        self._server: asyncio.Server | None = None
        self._sessions: dict[int, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing: asyncio.Event | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._drop_rules: list[_DropRule] = []
        self._drop_after: int | None = None
        self._cancels_pass_stall = False
        self._next_id = 0
        self._clear_records()

    @classmethod
    def for_server(cls, url: str, **options: Any) -> PgProxy:
        """A proxy in front of the server of ``url`` (a URL or conninfo), logging in as its user when it must."""
        params = {name: str(value) for name, value in conninfo_to_dict(url).items()}
        return cls(
            upstream=f"{params.get('host') or '127.0.0.1'}:{params.get('port') or '5432'}",
            upstream_user=params.get("user"),
            upstream_password=params.get("password"),
            **options,
        )

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start listening on ``host`` (a free port); returns ``self``."""
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._on_loop_error)
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="pgproxy", daemon=True)
        self._thread.start()
        self._call(self._start)
        return self

    def close(self) -> None:
        """Close every connection and stop the proxy's thread."""
        if self._loop is None or self._thread is None:
            return
        self._call(self._stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT_SECONDS)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Close; then, unless the block already failed, raise if the proxy broke or (strict) saw pinning."""
        report = self.report() if self._loop is not None else None
        self.close()
        if exc_type is not None or report is None:
            return
        if report.proxy_errors:
            raise ProxyFailedError(report.summary())
        if self.strict and any(record.enforced for record in report.pinning):
            raise PinningDetectedError(report.summary())

    # --- addresses --------------------------------------------------------------------------------------

    def route(self, url: str) -> str:
        """``url`` (a URL or conninfo for the upstream server) rewritten to connect through the proxy."""
        params = conninfo_to_dict(url)
        params.pop("hostaddr", None)
        params.update(host=self.host, port=str(self.port))
        return make_conninfo("", **params)

    def url_for(self, dbname: str, *, user: str = "postgres", **params: str) -> str:
        """A conninfo string for ``dbname`` on the upstream server, through the proxy."""
        return make_conninfo("", host=self.host, port=str(self.port), dbname=dbname, user=user, **params)

    # --- what was seen ------------------------------------------------------------------------------------

    def report(self) -> ProxyReport:
        """A snapshot of everything seen so far."""
        return self._call(self._snapshot)

    def wait_for(self, condition: Callable[[ProxyReport], bool], *, timeout: float = 5.0) -> ProxyReport:
        """Poll the report until ``condition`` holds (the proxy's thread runs behind the client); return it.

        Raises:
            AssertionError: ``condition`` still did not hold after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            report = self.report()
            if condition(report):
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"the proxy never reached the expected state:\n{report.summary()}")
            time.sleep(0.01)

    def reset(self) -> None:
        """Forget what was seen (connections stay open, armed faults stay armed)."""
        self._call(self._clear_records_async)

    def assert_no_pinning(self) -> None:
        """Raise :class:`PinningDetectedError` if any pinning trigger was seen (allowed kinds included)."""
        report = self.report()
        if report.pinning:
            raise PinningDetectedError(report.summary())

    # --- faults ------------------------------------------------------------------------------------------------

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
                    self._send_error(session, sqlstate=sqlstate, message=ADMIN_SHUTDOWN_MESSAGE)
                self._abort(session, "dropped on request", graceful=sqlstate is not None)
            return len(chosen)

        return self._call(drop)

    def drop_on(self, pattern: str, *, after_reply: bool = False, times: int = 1) -> None:
        """Drop the connection whose next statement matches ``pattern`` (a regex, case-insensitive).

        By default the statement never reaches the server. With ``after_reply`` it runs, the server answers
        (the answer to ``COMMIT`` means committed), and the connection drops before the client hears anything:
        the client cannot know whether its work was done. Applies to the next ``times`` matches.
        """
        rule = _DropRule(re.compile(pattern, re.IGNORECASE), after_reply, times)

        async def arm() -> None:
            self._drop_rules.append(rule)

        self._call(arm)

    def drop_after(self, messages: int) -> None:
        """Forward the next ``messages`` client messages, then drop the connection that sends one more."""

        async def arm() -> None:
            self._drop_after = messages

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
            self._faults.append(f"stalled for {seconds} s")

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
            self._faults.append("password changed" if password is not None else "password check off")

        self._call(change)

    def close_idle(self) -> int:
        """Close client connections idle outside a transaction, as RDS Proxy does; returns how many."""

        async def close() -> int:
            return self._close_idle(older_than=0.0)

        return self._call(close)

    def clear_faults(self) -> None:
        """Disarm every armed fault, end a stall and listen again."""

        async def clear() -> None:
            self._drop_rules.clear()
            self._drop_after = None
            assert self._flowing is not None
            self._flowing.set()
            if self._server is None:
                await self._listen()

        self._call(clear)

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

    # --- the proxy's thread ------------------------------------------------------------------------------------

    def _call(self, function: Callable[[], Awaitable[T]]) -> T:
        if self._loop is None:
            raise RuntimeError("the proxy is not started (use it as a context manager or call start())")
        return asyncio.run_coroutine_threadsafe(_awaited(function), self._loop).result(CALL_TIMEOUT_SECONDS)

    def _on_loop_error(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self._proxy_errors.append(f"{context.get('message')}: {context.get('exception')!r}")

    def _clear_records(self) -> None:
        self._connections: dict[int, ConnectionRecord] = {}
        self._statements: list[StatementRecord] = []
        self._pinning: list[PinningRecord] = []
        self._extended = False
        self._binary = False
        self._named: list[str] = []
        self._counts: Counter[str] = Counter()
        self._cancels = 0
        self._faults: list[str] = []
        self._proxy_errors: list[str] = []

    async def _clear_records_async(self) -> None:
        self._clear_records()
        for session in self._sessions.values():
            self._connections[session.id] = ConnectionRecord(session.id, dict(session.startup_parameters), None)

    async def _snapshot(self) -> ProxyReport:
        return ProxyReport(
            connections=tuple(self._connections[key] for key in sorted(self._connections)),
            statements=tuple(self._statements),
            pinning=tuple(self._pinning),
            extended_protocol_used=self._extended,
            binary_parameters_used=self._binary,
            named_statements=tuple(self._named),
            message_counts=dict(self._counts),
            cancel_requests=self._cancels,
            faults=tuple(self._faults),
            proxy_errors=tuple(self._proxy_errors),
        )

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()
        if self.idle_client_timeout is not None:
            self._spawn(self._close_idle_periodically(self.idle_client_timeout))

    async def _listen(self) -> None:
        if self._server is None:
            # The same port again after refuse(False): a listening socket has no TIME_WAIT to wait out.
            self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        if self._server is not None:
            # close() alone: on Python 3.12+ wait_closed() would also wait for every open connection.
            self._server.close()
            self._server = None
            self._faults.append("refusing new connections")

    async def _stop(self) -> None:
        await self._stop_listening()
        for session in list(self._sessions.values()):
            self._abort(session, "proxy stopped", graceful=False)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Let the transports' connection_lost callbacks run, so every socket is closed before the loop stops.
        for _ in range(3):
            await asyncio.sleep(0)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_idle_periodically(self, timeout: float) -> None:
        while True:
            await asyncio.sleep(min(timeout / 4, 0.25))
            self._close_idle(older_than=timeout)

    def _close_idle(self, *, older_than: float) -> int:
        now = time.monotonic()
        idle = [s for s in self._live_sessions() if s.idle and now - s.last_activity >= older_than]
        for session in idle:
            self._abort(session, "idle client connection closed", graceful=True)
        return len(idle)

    def _live_sessions(self) -> list[_Session]:
        return [s for s in self._sessions.values() if s.closed_by is None and s.upstream_writer is not None]

    # --- one connection ------------------------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next_id += 1
        session = _Session(self._next_id, reader, writer, last_activity=time.monotonic())
        self._spawn(self._serve(session))

    async def _serve(self, session: _Session) -> None:
        self._sessions[session.id] = session
        self._connections[session.id] = ConnectionRecord(session.id, {}, None)
        try:
            await self._serve_session(session)
        except (OSError, ProtocolError, asyncio.IncompleteReadError) as exc:
            self._abort(session, f"{type(exc).__name__}: {exc}", graceful=False)
        finally:
            self._abort(session, "closed", graceful=True)
            del self._sessions[session.id]

    async def _serve_session(self, session: _Session) -> None:
        assert self._flowing is not None
        initial = await self._read_initial(session)
        if initial is None:
            return
        if initial.kind is InitialKind.CANCEL:
            self._cancels += 1
            if not self._cancels_pass_stall:
                await self._flowing.wait()
            await self._forward_cancel(initial.raw)
            return
        await self._flowing.wait()
        session.startup_parameters = dict(initial.parameters)
        self._connections[session.id] = ConnectionRecord(session.id, dict(initial.parameters), None)
        if self._found_pinning(session, startup_triggers(initial.parameters)):
            return
        upstream_reader = await self._connect_upstream(session, initial)
        if upstream_reader is None:
            return
        pumps = {
            asyncio.ensure_future(self._client_to_upstream(session)),
            asyncio.ensure_future(self._upstream_to_client(session, upstream_reader)),
        }
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            results = await asyncio.gather(*pumps, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    async def _connect_upstream(self, session: _Session, initial: InitialMessage) -> asyncio.StreamReader | None:
        """Check the client's password (when required), connect upstream and start the session there.

        None (and the connection closed) when the client's password is refused or the upstream is unreachable.
        """
        checking = self._password is not None
        if self._password is not None and not await self._authenticate(session, self._password):
            return None
        try:
            upstream_reader, session.upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            self._send_error(session, sqlstate=CONNECTION_FAILURE, message=f"test proxy: upstream unreachable: {exc}")
            self._abort(session, f"upstream unreachable: {exc}", graceful=True)
            return None
        if not checking:
            session.upstream_writer.write(initial.raw)  # the client authenticates to the server itself
            return upstream_reader
        # The client proved its password to the proxy; the proxy logs in with its own credentials.
        logged_in = await self._login_upstream(session, upstream_reader, dict(initial.parameters))
        return upstream_reader if logged_in else None

    async def _read_initial(self, session: _Session) -> InitialMessage | None:
        """Read the first message; answer SSLRequest/GSSENCRequest with 'N' and read the next one."""
        buffer = bytearray()
        while True:
            initial = read_initial(buffer)
            if initial is None:
                chunk = await session.client_reader.read(READ_CHUNK)
                if not chunk:
                    session.closed_by = "client"
                    return None
                buffer += chunk
                continue
            del buffer[: len(initial.raw)]
            if initial.kind not in {InitialKind.SSL, InitialKind.GSSENC}:
                if buffer:
                    raise ProtocolError("the client sent more before the server answered its first message")
                return initial
            session.client_writer.write(b"N")  # "not supported": the client carries on in plaintext

    async def _authenticate(self, session: _Session, password: str | Callable[[str], bool]) -> bool:
        """Ask the client for its password and check it; False (and the connection closed) when refused."""
        session.client_writer.write(cleartext_password_request())
        buffer = bytearray()
        while not (frames := list(frame_messages(buffer))):
            chunk = await session.client_reader.read(READ_CHUNK)
            if not chunk:
                session.closed_by = "client"
                return False
            buffer += chunk
        type_byte, body_start, end = frames[0]
        supplied = password_of(type_byte, bytes(buffer[body_start:end]))
        if supplied is not None and (
            password(supplied) if callable(password) else hmac.compare_digest(supplied.encode(), password.encode())
        ):
            return True
        user = session.startup_parameters.get("user", "")
        self._send_error(
            session, sqlstate=INVALID_PASSWORD, message=f'password authentication failed for user "{user}"'
        )
        self._abort(session, "password refused", graceful=True)
        return False

    async def _login_upstream(
        self, session: _Session, reader: asyncio.StreamReader, parameters: dict[str, str]
    ) -> bool:
        """Start up and authenticate to the upstream as :attr:`upstream_user`; forward its AuthenticationOk.

        False (and the connection closed, the server's error passed on) when the upstream refuses.
        """
        writer = session.upstream_writer
        assert writer is not None
        user = self.upstream_user or parameters.get("user", "")
        password = self._upstream_password or ""
        writer.write(startup_message({**parameters, "user": user}))
        scram: ScramClient | None = None
        while True:
            header = await reader.readexactly(HEADER_BYTES)
            body = await reader.readexactly(struct.unpack_from("!i", header, 1)[0] - LENGTH_BYTES)
            if header[:1] == b"E":
                session.client_writer.write(header + body)
                self._abort(session, "upstream refused the proxy's login", graceful=True)
                return False
            if header[:1] != b"R":
                raise ProtocolError(f"unexpected message {header[:1]!r} while logging in to the upstream")
            (code,) = struct.unpack_from("!i", body)
            if code == AUTH_OK:
                session.client_writer.write(header + body)
                return True
            if code == AUTH_CLEARTEXT:
                writer.write(password_message(password))
            elif code == AUTH_MD5:
                writer.write(md5_password(user, password, body[4:8]))
            elif code == AUTH_SASL:
                scram = ScramClient(password)
                writer.write(scram.first())
            elif code == AUTH_SASL_CONTINUE and scram is not None:
                writer.write(scram.final(body[4:]))
            elif code == AUTH_SASL_FINAL and scram is not None:
                scram.verify(body[4:])
            else:
                raise ProtocolError(f"the upstream asked for authentication method {code}, which the proxy lacks")

    async def _forward_cancel(self, raw: bytes) -> None:
        _reader, writer = await asyncio.open_connection(*self.upstream)
        writer.write(raw)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def _client_to_upstream(self, session: _Session) -> None:
        assert self._flowing is not None
        assert session.upstream_writer is not None
        buffer = bytearray()
        while True:
            chunk = await session.client_reader.read(READ_CHUNK)
            if not chunk:
                session.closed_by = session.closed_by or "client"
                return
            buffer += chunk
            session.last_activity = time.monotonic()
            forward_to = 0
            for type_byte, body_start, end in frame_messages(buffer):
                message = (
                    decode_frontend(type_byte, bytes(buffer[body_start:end]))
                    if type_byte in _INSPECTED
                    else FrontendMessage(chr(type_byte), FRONTEND_NAMES.get(chr(type_byte), "unknown"))
                )
                action = self._inspect(session, message)
                if action == "forward":
                    forward_to = end
                    continue
                await self._forward(session, bytes(buffer[:forward_to]))
                if action == "fail":
                    return
                self._abort(session, f"dropped before {message.name} ({_excerpt(message)})", graceful=False)
                return
            await self._forward(session, bytes(buffer[:forward_to]))
            del buffer[:forward_to]

    async def _forward(self, session: _Session, data: bytes) -> None:
        assert self._flowing is not None
        await self._flowing.wait()
        if data and session.closed_by is None and session.upstream_writer is not None:
            session.upstream_writer.write(data)
            await session.upstream_writer.drain()

    def _inspect(self, session: _Session, message: FrontendMessage) -> Literal["forward", "drop", "fail"]:
        """Record one client message and decide its fate."""
        self._counts[message.name] += 1
        if message.type in _ANSWERED_BY_READY:
            session.pending += 1
        if message.extended:
            self._extended = True
        self._binary = self._binary or message.binary_parameters
        triggers: list[PinningTrigger] = []
        if message.sql is not None:
            protocol: Literal["simple", "extended"] = "simple" if message.type == "Q" else "extended"
            self._statements.append(StatementRecord(session.id, protocol, message.sql))
            triggers.extend(pinning_triggers(message.sql))
        if message.type in {"P", "B"} and message.statement:
            if message.statement not in self._named:
                self._named.append(message.statement)
            if message.type == "P":
                triggers.append(
                    PinningTrigger(
                        PinningKind.NAMED_PREPARED_STATEMENT,
                        f"Parse of statement {message.statement!r}: {_excerpt(message)}",
                    )
                )
        if self._found_pinning(session, triggers):
            return "fail"
        return self._fault_for(session, message)

    def _found_pinning(self, session: _Session, triggers: Collection[PinningTrigger]) -> bool:
        """Record triggers; in strict mode fail the connection on the first one not allowed. True if failed."""
        enforced = [t for t in triggers if self.strict and t.kind not in self.allow]
        for trigger in triggers:
            self._pinning.append(PinningRecord(session.id, trigger, trigger in enforced))
        if not enforced:
            return False
        self._send_error(
            session,
            sqlstate=FEATURE_NOT_SUPPORTED,
            message=f"test proxy (strict): RDS Proxy would pin this session: {enforced[0]}",
        )
        self._abort(session, f"pinning: {enforced[0]}", graceful=True)
        return True

    def _fault_for(self, session: _Session, message: FrontendMessage) -> Literal["forward", "drop"]:
        if self._drop_after is not None:
            if self._drop_after == 0:
                self._drop_after = None
                return "drop"
            self._drop_after -= 1
        if message.sql is None:
            return "forward"
        for rule in self._drop_rules:
            if rule.remaining > 0 and rule.pattern.search(message.sql):
                rule.remaining -= 1
                if not rule.after_reply:
                    return "drop"
                session.swallow_replies = True
                self._faults.append(f"connection {session.id}: will drop after the reply to {_excerpt(message)}")
                return "forward"
        return "forward"

    async def _upstream_to_client(self, session: _Session, reader: asyncio.StreamReader) -> None:
        assert self._flowing is not None
        buffer = bytearray()
        while True:
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                session.closed_by = session.closed_by or "server"
                return
            buffer += chunk
            complete = 0
            forwarded = bytearray()
            for type_byte, body_start, end in frame_messages(buffer):
                start, complete = complete, end
                if type_byte == _READY_FOR_QUERY:
                    session.tx_status = chr(buffer[body_start])
                    session.pending = max(0, session.pending - 1)
                    session.last_activity = time.monotonic()
                    if session.swallow_replies:
                        self._abort(session, "dropped after the server's reply", graceful=False)
                        return
                # Once swallowing, the client must not hear any answer, only the COPY sub-protocol's steps.
                if not session.swallow_replies or type_byte in _COPY_RESPONSES:
                    forwarded += buffer[start:end]
            data = bytes(forwarded)
            del buffer[:complete]
            if not data:
                continue
            await self._flowing.wait()
            if session.closed_by is None:
                session.client_writer.write(data)
                await session.client_writer.drain()

    def _send_error(self, session: _Session, *, sqlstate: str, message: str) -> None:
        if session.closed_by is None and not session.client_writer.is_closing():
            session.client_writer.write(error_response(severity="FATAL", sqlstate=sqlstate, message=message))

    def _abort(self, session: _Session, reason: str, *, graceful: bool) -> None:
        """Close both sides; ``graceful`` flushes what was written to the client first."""
        if session.closed_by is None:
            session.closed_by = f"proxy: {reason}"
            if reason != "closed":
                self._faults.append(f"connection {session.id}: {reason}")
        record = self._connections.get(session.id)
        if record is not None and record.closed_by is None:
            self._connections[session.id] = ConnectionRecord(
                session.id, dict(session.startup_parameters), session.closed_by
            )
        if graceful:
            session.client_writer.close()
        else:
            session.client_writer.transport.abort()
        if session.upstream_writer is not None:
            session.upstream_writer.transport.abort()


async def _awaited(function: Callable[[], Awaitable[T]]) -> T:
    return await function()


def _excerpt(message: FrontendMessage) -> str:
    text = " ".join((message.sql or message.name).split())
    return text if len(text) <= 60 else text[:57] + "..."
