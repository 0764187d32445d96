"""The test proxy's engine: its asyncio thread, listening, and each session's two pumps with the inspection between.

:class:`ProxyCore` accepts client connections, hands startup, passwords and cancels to :mod:`.wire`, then pumps
messages both ways: each client message is recorded (:mod:`.report`), checked for pinning (:mod:`.pinning`) and
given its fate by the armed faults (:class:`~tests.support.pgproxy.fault_plan.FaultPlan`). Everything here except
:meth:`ProxyCore.start`, :meth:`ProxyCore.close` and :meth:`ProxyCore._call` runs on the proxy's thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeVar

from tests.support.pgproxy.fault_plan import FaultPlan
from tests.support.pgproxy.pinning import enforced_triggers, message_triggers, refusal
from tests.support.pgproxy.report import ConnectionRecord, PinningRecord, Recorder
from tests.support.pgproxy.wire import (
    CONNECTION_FAILURE,
    FEATURE_NOT_SUPPORTED,
    READ_CHUNK,
    Session,
    authenticate,
    excerpt,
    forward_cancel,
    login_upstream,
    read_first_message,
    send_fatal,
)
from tests.support.pgwire import (
    FRONTEND_NAMES,
    FrontendMessage,
    InitialKind,
    ProtocolError,
    decode_frontend,
    frame_messages,
    startup_triggers,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from tests.support.pgproxy.report import ProxyReport
    from tests.support.pgwire import InitialMessage, PinningKind, PinningTrigger

__all__ = ["CALL_TIMEOUT_SECONDS", "ProxyCore"]

T = TypeVar("T")

# Generous: a call waits at most this long for the proxy's thread to act (it normally answers in microseconds).
CALL_TIMEOUT_SECONDS: Final = 10.0
# Messages each answered by exactly one ReadyForQuery: a connection with none outstanding is idle.
_ANSWERED_BY_READY: Final = frozenset({"Q", "S", "F"})
_INSPECTED: Final = frozenset(b"QPBCDE")
_READY_FOR_QUERY: Final = ord("Z")
# CopyInResponse, CopyOutResponse, CopyBothResponse: steps of the COPY sub-protocol the client must see to go
# on (stream its rows), not answers; swallowing them would leave client and server waiting on each other.
_COPY_RESPONSES: Final = frozenset({ord("G"), ord("H"), ord("W")})


class ProxyCore:
    """A PostgreSQL wire-protocol proxy on loopback: the engine :class:`~tests.support.pgproxy.PgProxy` drives."""

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
        self._sessions: dict[int, Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing: asyncio.Event | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._fault_plan = FaultPlan()
        self._cancels_pass_stall = False
        self._next_id = 0
        self._seen = Recorder()

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

    # --- the proxy's thread ------------------------------------------------------------------------------------

    def _call(self, function: Callable[[], Awaitable[T]]) -> T:
        if self._loop is None:
            raise RuntimeError("the proxy is not started (use it as a context manager or call start())")
        return asyncio.run_coroutine_threadsafe(_awaited(function), self._loop).result(CALL_TIMEOUT_SECONDS)

    def _on_loop_error(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self._seen.proxy_errors.append(f"{context.get('message')}: {context.get('exception')!r}")

    async def _clear_records(self) -> None:
        self._seen = Recorder()
        for session in self._sessions.values():
            self._seen.connections[session.id] = ConnectionRecord(session.id, dict(session.startup_parameters), None)

    async def _snapshot(self) -> ProxyReport:
        return self._seen.snapshot()

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
            self._seen.faults.append("refusing new connections")

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

    def _close_idle(self, *, older_than: float) -> list[Session]:
        now = time.monotonic()
        idle = [s for s in self._live_sessions() if s.idle and now - s.last_activity >= older_than]
        for session in idle:
            self._abort(session, "idle client connection closed", graceful=True)
        return idle

    def _live_sessions(self) -> list[Session]:
        return [s for s in self._sessions.values() if s.closed_by is None and s.upstream_writer is not None]

    # --- one connection ------------------------------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._next_id += 1
        session = Session(self._next_id, reader, writer, last_activity=time.monotonic())
        self._spawn(self._serve(session))

    async def _serve(self, session: Session) -> None:
        self._sessions[session.id] = session
        self._seen.connections[session.id] = ConnectionRecord(session.id, {}, None)
        try:
            await self._serve_session(session)
        except (OSError, ProtocolError, asyncio.IncompleteReadError) as exc:
            self._abort(session, f"{type(exc).__name__}: {exc}", graceful=False)
        finally:
            self._abort(session, "closed", graceful=True)
            del self._sessions[session.id]

    async def _serve_session(self, session: Session) -> None:
        assert self._flowing is not None
        initial = await read_first_message(session)
        if initial is None:
            return
        if initial.kind is InitialKind.CANCEL:
            self._seen.cancels += 1
            if not self._cancels_pass_stall:
                await self._flowing.wait()
            await forward_cancel(self.upstream, initial.raw)
            return
        await self._flowing.wait()
        session.startup_parameters = dict(initial.parameters)
        self._seen.connections[session.id] = ConnectionRecord(session.id, dict(initial.parameters), None)
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

    async def _connect_upstream(self, session: Session, initial: InitialMessage) -> asyncio.StreamReader | None:
        """Check the client's password (when required), connect upstream and start the session there.

        None (and the connection closed) when the client's password is refused or the upstream is unreachable.
        """
        checking = self._password is not None
        if self._password is not None and not await authenticate(session, self._password):
            if session.closed_by is None:  # refused, not hung up
                self._abort(session, "password refused", graceful=True)
            return None
        try:
            upstream_reader, session.upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            send_fatal(session, sqlstate=CONNECTION_FAILURE, message=f"test proxy: upstream unreachable: {exc}")
            self._abort(session, f"upstream unreachable: {exc}", graceful=True)
            return None
        if not checking:
            session.upstream_writer.write(initial.raw)  # the client authenticates to the server itself
            return upstream_reader
        # The client proved its password to the proxy; the proxy logs in with its own credentials.
        parameters = dict(initial.parameters)
        user = self.upstream_user or parameters.get("user", "")
        if not await login_upstream(
            session, upstream_reader, parameters, user=user, password=self._upstream_password or ""
        ):
            self._abort(session, "upstream refused the proxy's login", graceful=True)
            return None
        return upstream_reader

    async def _client_to_upstream(self, session: Session) -> None:
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
                self._abort(session, f"dropped before {message.name} ({excerpt(message)})", graceful=False)
                return
            await self._forward(session, bytes(buffer[:forward_to]))
            del buffer[:forward_to]

    async def _forward(self, session: Session, data: bytes) -> None:
        assert self._flowing is not None
        await self._flowing.wait()
        if data and session.closed_by is None and session.upstream_writer is not None:
            session.upstream_writer.write(data)
            await session.upstream_writer.drain()

    def _inspect(self, session: Session, message: FrontendMessage) -> Literal["forward", "drop", "fail"]:
        """Record one client message and decide its fate."""
        self._seen.record(session.id, message)
        if message.type in _ANSWERED_BY_READY:
            session.pending += 1
        if self._found_pinning(session, message_triggers(message)):
            return "fail"
        return self._fault_for(session, message)

    def _found_pinning(self, session: Session, triggers: Collection[PinningTrigger]) -> bool:
        """Record triggers; in strict mode fail the connection on the first one not allowed. True if failed."""
        enforced = enforced_triggers(triggers, strict=self.strict, allow=self.allow)
        for trigger in triggers:
            self._seen.pinning.append(PinningRecord(session.id, trigger, trigger in enforced))
        if not enforced:
            return False
        send_fatal(session, sqlstate=FEATURE_NOT_SUPPORTED, message=refusal(enforced[0]))
        self._abort(session, f"pinning: {enforced[0]}", graceful=True)
        return True

    def _fault_for(self, session: Session, message: FrontendMessage) -> Literal["forward", "drop"]:
        fate = self._fault_plan.fate(message)
        if fate == "drop_after_reply":
            session.swallow_replies = True
            self._seen.faults.append(f"connection {session.id}: will drop after the reply to {excerpt(message)}")
            return "forward"
        return fate

    async def _upstream_to_client(self, session: Session, reader: asyncio.StreamReader) -> None:
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

    def _abort(self, session: Session, reason: str, *, graceful: bool) -> None:
        """Close both sides; ``graceful`` flushes what was written to the client first."""
        if session.closed_by is None:
            session.closed_by = f"proxy: {reason}"
            if reason != "closed":
                self._seen.faults.append(f"connection {session.id}: {reason}")
        record = self._seen.connections.get(session.id)
        if record is not None and record.closed_by is None:
            self._seen.connections[session.id] = ConnectionRecord(
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
