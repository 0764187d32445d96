"""The test proxy's wire plumbing around the inspected message stream: one session, its startup, passwords, cancels.

Everything here runs on the proxy's thread and touches only the session it is given: the first message (SSL and
GSSAPI encryption refused with 'N'), the client's password when the proxy checks one, the proxy's own login to the
server (trust, cleartext, MD5 or SCRAM-SHA-256), and a CancelRequest passed on over its own connection.
"""

from __future__ import annotations

import asyncio
import hmac
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

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
    HEADER_BYTES,
    LENGTH_BYTES,
    InitialKind,
    ProtocolError,
    cleartext_password_request,
    error_response,
    frame_messages,
    password_of,
    read_initial,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.support.pgwire import FrontendMessage, InitialMessage

__all__ = [
    "ADMIN_SHUTDOWN",
    "ADMIN_SHUTDOWN_MESSAGE",
    "CONNECTION_FAILURE",
    "FEATURE_NOT_SUPPORTED",
    "INVALID_PASSWORD",
    "READ_CHUNK",
    "Session",
    "authenticate",
    "excerpt",
    "forward_cancel",
    "login_upstream",
    "read_first_message",
    "read_password",
    "send_fatal",
]

READ_CHUNK: Final = 65_536
# SQLSTATEs the proxy puts in the errors it sends (PostgreSQL docs, Appendix A).
FEATURE_NOT_SUPPORTED: Final = "0A000"
ADMIN_SHUTDOWN: Final = "57P01"
CONNECTION_FAILURE: Final = "08006"
INVALID_PASSWORD: Final = "28P01"
ADMIN_SHUTDOWN_MESSAGE: Final = "terminating connection due to administrator command"
_IN_TRANSACTION: Final = frozenset({"T", "E"})
_EXCERPT_CHARS: Final = 60


@dataclass
class Session:
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
        """Open, outside a transaction, with no answer outstanding."""
        return self.tx_status == "I" and self.pending == 0 and self.closed_by is None

    @property
    def in_transaction(self) -> bool:
        """Open, and inside a transaction or waiting for an answer."""
        return self.closed_by is None and (self.tx_status in _IN_TRANSACTION or self.pending > 0)


async def read_first_message(session: Session) -> InitialMessage | None:
    """Read the first message; answer SSLRequest/GSSENCRequest with 'N' and read the next one.

    None (``closed_by`` set to ``client``) when the client hung up first.
    """
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


async def read_password(session: Session) -> str | None:
    """Ask the client for its password (AuthenticationCleartextPassword) and return what it sent.

    None when its answer holds no password, or (``closed_by`` set to ``client``) when it hung up.
    """
    session.client_writer.write(cleartext_password_request())
    buffer = bytearray()
    while not (frames := list(frame_messages(buffer))):
        chunk = await session.client_reader.read(READ_CHUNK)
        if not chunk:
            session.closed_by = "client"
            return None
        buffer += chunk
    type_byte, body_start, end = frames[0]
    return password_of(type_byte, bytes(buffer[body_start:end]))


async def authenticate(session: Session, password: str | Callable[[str], bool]) -> bool:
    """Ask the client for its password and check it against ``password`` (or the predicate).

    False when the client hung up (``closed_by`` set) or was refused: a refused client gets FATAL 28P01, as
    from RDS Proxy, and the caller closes the session.
    """
    supplied = await read_password(session)
    if session.closed_by is not None:
        return False
    if supplied is not None and (
        password(supplied) if callable(password) else hmac.compare_digest(supplied.encode(), password.encode())
    ):
        return True
    user = session.startup_parameters.get("user", "")
    send_fatal(session, sqlstate=INVALID_PASSWORD, message=f'password authentication failed for user "{user}"')
    return False


def send_fatal(session: Session, *, sqlstate: str, message: str) -> None:
    """Send the client a FATAL ErrorResponse, unless its connection is already closing."""
    if session.closed_by is None and not session.client_writer.is_closing():
        session.client_writer.write(error_response(severity="FATAL", sqlstate=sqlstate, message=message))


async def login_upstream(
    session: Session, reader: asyncio.StreamReader, parameters: dict[str, str], *, user: str, password: str
) -> bool:
    """Start up and authenticate to the upstream as ``user``; forward its AuthenticationOk to the client.

    False when the upstream refuses: its error is passed on to the client, and the caller closes the session.
    """
    writer = session.upstream_writer
    assert writer is not None
    writer.write(startup_message({**parameters, "user": user}))
    scram: ScramClient | None = None
    while True:
        header = await reader.readexactly(HEADER_BYTES)
        body = await reader.readexactly(struct.unpack_from("!i", header, 1)[0] - LENGTH_BYTES)
        if header[:1] == b"E":
            session.client_writer.write(header + body)
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


async def forward_cancel(upstream: tuple[str, int], raw: bytes) -> None:
    """Pass a CancelRequest on to the server over a connection of its own, as PostgreSQL expects."""
    _reader, writer = await asyncio.open_connection(*upstream)
    writer.write(raw)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def excerpt(message: FrontendMessage) -> str:
    """The start of a message's SQL (or its name), on one line, for reports."""
    text = " ".join((message.sql or message.name).split())
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."
