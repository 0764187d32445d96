"""The PostgreSQL frontend protocol, read by the test proxy: message framing, decoding and RDS Proxy pinning rules.

Pure functions over bytes and text, no sockets: :mod:`tests.support.pgproxy` feeds them what a client sends.
Message layouts follow the PostgreSQL documentation, "Frontend/Backend Protocol: Message Formats" (protocol
3.0): after the untyped first message, every message is one type byte, an Int32 length that counts itself but
not the type byte, then the body.

The pinning rules follow AWS's "Avoiding pinning an RDS Proxy" for PostgreSQL, read strictly: ``SET`` (``SET
LOCAL`` too) and ``set_config``, ``PREPARE``/``EXECUTE``/``DEALLOCATE`` and named prepared statements of the
extended protocol, ``DISCARD``, temporary tables/sequences/views, ``DECLARE`` cursors (``WITH HOLD`` ones
outlive the transaction), ``LISTEN``, ``LOAD``, advisory lock functions, sequence functions, and (statically
visible) sequence-backed defaults in DDL; startup parameters other than the ones every driver sends.
SQL is inspected with string literals, quoted identifiers and comments blanked out, so data that merely looks
like SQL (``'; SET x = 1; --``) is never taken for a statement.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "CANCEL_REQUEST_CODE",
    "FRONTEND_NAMES",
    "GSSENC_REQUEST_CODE",
    "HEADER_BYTES",
    "LENGTH_BYTES",
    "SSL_REQUEST_CODE",
    "FrontendMessage",
    "InitialKind",
    "InitialMessage",
    "PinningKind",
    "PinningTrigger",
    "ProtocolError",
    "blank_sql",
    "cleartext_password_request",
    "decode_frontend",
    "error_response",
    "frame_messages",
    "password_of",
    "pinning_triggers",
    "read_initial",
    "startup_triggers",
]

# Request codes of the untyped first message (PostgreSQL docs, "Message Formats").
SSL_REQUEST_CODE: Final = 80877103
GSSENC_REQUEST_CODE: Final = 80877104
CANCEL_REQUEST_CODE: Final = 80877102
PROTOCOL_MAJOR_3: Final = 3
# A typed message header: one type byte and an Int32 length (the length counts itself: 4 at least).
HEADER_BYTES: Final = 5
LENGTH_BYTES: Final = 4
# No legitimate first message is this long; PostgreSQL's own limit for a startup packet is 10,000 bytes.
MAX_INITIAL_BYTES: Final = 10_000
# The Authentication request code asking for a cleartext password ("Message Formats", AuthenticationCleartextPassword).
AUTH_CLEARTEXT_PASSWORD: Final = 3
# A TLS ClientHello starts with this byte (a client that skips SSLRequest, sslnegotiation=direct).
TLS_HANDSHAKE_BYTE: Final = 0x16

FRONTEND_NAMES: Final = {
    "B": "Bind",
    "C": "Close",
    "d": "CopyData",
    "c": "CopyDone",
    "f": "CopyFail",
    "D": "Describe",
    "E": "Execute",
    "H": "Flush",
    "F": "FunctionCall",
    "p": "PasswordMessage",
    "P": "Parse",
    "Q": "Query",
    "S": "Sync",
    "X": "Terminate",
}

# Startup parameters that carry no session state RDS Proxy must pin on: who connects, to what, and as what.
NEUTRAL_STARTUP_PARAMETERS: Final = frozenset({"user", "database", "application_name", "client_encoding"})


class ProtocolError(ValueError):
    """The bytes do not follow the PostgreSQL frontend protocol."""


# --- the untyped first message -------------------------------------------------------------------------


class InitialKind(StrEnum):
    """What a connection's first message asks for."""

    SSL = "SSLRequest"
    GSSENC = "GSSENCRequest"
    CANCEL = "CancelRequest"
    STARTUP = "StartupMessage"


@dataclass(frozen=True)
class InitialMessage:
    """The first message of a connection, and its bytes as they must be forwarded."""

    kind: InitialKind
    raw: bytes
    protocol: tuple[int, int] | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)


def read_initial(buffer: bytes | bytearray) -> InitialMessage | None:
    """Decode the untyped first message at the start of ``buffer``; ``None`` while it is incomplete.

    Raises:
        ProtocolError: not a PostgreSQL first message (a TLS ClientHello, a bad length, an unknown code).
    """
    if buffer[:1] == bytes([TLS_HANDSHAKE_BYTE]):
        raise ProtocolError("the client opened TLS directly (sslnegotiation=direct); the test proxy speaks plaintext")
    if len(buffer) < 2 * LENGTH_BYTES:
        return None
    length, code = struct.unpack_from("!iI", buffer)
    if not 2 * LENGTH_BYTES <= length <= MAX_INITIAL_BYTES:
        raise ProtocolError(f"first message length {length} is out of range")
    if len(buffer) < length:
        return None
    raw = bytes(buffer[:length])
    if code == SSL_REQUEST_CODE:
        return InitialMessage(InitialKind.SSL, raw)
    if code == GSSENC_REQUEST_CODE:
        return InitialMessage(InitialKind.GSSENC, raw)
    if code == CANCEL_REQUEST_CODE:
        return InitialMessage(InitialKind.CANCEL, raw)
    major, minor = code >> 16, code & 0xFFFF
    if major != PROTOCOL_MAJOR_3:
        raise ProtocolError(f"unsupported protocol version {major}.{minor}")
    return InitialMessage(InitialKind.STARTUP, raw, (major, minor), _startup_parameters(raw[2 * LENGTH_BYTES :]))


def _startup_parameters(body: bytes) -> dict[str, str]:
    # Pairs of NUL-terminated strings, ended by one more NUL.
    fields = body.split(b"\x00")
    pairs = fields[: (len(fields) - 1) // 2 * 2]
    return {
        pairs[index].decode("utf-8", errors="replace"): pairs[index + 1].decode("utf-8", errors="replace")
        for index in range(0, len(pairs), 2)
        if pairs[index]
    }


# --- typed messages -------------------------------------------------------------------------------------


def frame_messages(buffer: bytes | bytearray) -> Iterator[tuple[int, int, int]]:
    """Yield ``(type byte, body start, end)`` for each complete typed message at the start of ``buffer``.

    Stops at the first incomplete message; its bytes stay for the next read.

    Raises:
        ProtocolError: a length below 4, which no valid message has.
    """
    offset = 0
    while len(buffer) - offset >= HEADER_BYTES:
        (length,) = struct.unpack_from("!i", buffer, offset + 1)
        if length < LENGTH_BYTES:
            raise ProtocolError(f"message length {length} is below {LENGTH_BYTES}")
        end = offset + 1 + length
        if end > len(buffer):
            return
        yield buffer[offset], offset + HEADER_BYTES, end
        offset = end


@dataclass(frozen=True)
class FrontendMessage:
    """What the proxy needs to know about one typed message from the client."""

    type: str
    name: str
    sql: str | None = None
    statement: str | None = None
    """Prepared statement named by Parse, Bind, Close 'S' or Describe 'S' ("" is the unnamed one)."""
    portal: str | None = None
    binary_parameters: bool = False

    @property
    def extended(self) -> bool:
        """True for the extended query protocol's messages."""
        return self.type in {"P", "B", "D", "E", "C"}


class _Reader:
    """Reads fields of one message body in order."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.offset = 0

    def cstring(self) -> str:
        end = self.body.find(b"\x00", self.offset)
        if end < 0:
            raise ProtocolError("unterminated string in message")
        text = self.body[self.offset : end].decode("utf-8", errors="replace")
        self.offset = end + 1
        return text

    def byte(self) -> str:
        if self.offset >= len(self.body):
            raise ProtocolError("message ends early")
        value = chr(self.body[self.offset])
        self.offset += 1
        return value

    def int16s(self) -> tuple[int, ...]:
        (count,) = struct.unpack_from("!h", self.body, self.offset)
        values = struct.unpack_from(f"!{count}h", self.body, self.offset + 2)
        self.offset += 2 + 2 * count
        return values


def decode_frontend(type_byte: int, body: bytes) -> FrontendMessage:
    """Decode the parts of one typed frontend message the proxy records (never parameter values or passwords).

    Raises:
        ProtocolError: the body does not fit the message's layout.
    """
    kind = chr(type_byte)
    name = FRONTEND_NAMES.get(kind, f"unknown {kind!r}")
    reader = _Reader(body)
    try:
        if kind == "Q":
            return FrontendMessage(kind, name, sql=reader.cstring())
        if kind == "P":
            statement = reader.cstring()
            return FrontendMessage(kind, name, sql=reader.cstring(), statement=statement)
        if kind == "B":
            portal, statement = reader.cstring(), reader.cstring()
            return FrontendMessage(
                kind, name, statement=statement, portal=portal, binary_parameters=1 in reader.int16s()
            )
        if kind in {"C", "D"}:
            target, target_name = reader.byte(), reader.cstring()
            if target == "S":
                return FrontendMessage(kind, name, statement=target_name)
            return FrontendMessage(kind, name, portal=target_name)
        if kind == "E":
            return FrontendMessage(kind, name, portal=reader.cstring())
    except struct.error as exc:
        raise ProtocolError(f"{name} message ends early") from exc
    return FrontendMessage(kind, name)


def error_response(*, severity: str, sqlstate: str, message: str) -> bytes:
    """An ErrorResponse ('E') as a server sends it: severity, SQLSTATE and message fields."""
    fields = b"".join(
        code + value.encode("utf-8") + b"\x00"
        for code, value in ((b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\x00"
    return b"E" + struct.pack("!i", len(body) + LENGTH_BYTES) + body


def cleartext_password_request() -> bytes:
    """AuthenticationCleartextPassword ('R', code 3): the server asks the client for its password."""
    return b"R" + struct.pack("!ii", 2 * LENGTH_BYTES, AUTH_CLEARTEXT_PASSWORD)


def password_of(type_byte: int, body: bytes) -> str | None:
    """The password in a PasswordMessage ('p'), ``None`` for any other message. Never log it."""
    if chr(type_byte) != "p" or not body.endswith(b"\x00"):
        return None
    return body[:-1].decode("utf-8", errors="replace")


# --- pinning ------------------------------------------------------------------------------------------------


class PinningKind(StrEnum):
    """Why RDS Proxy would pin a client session to one database connection."""

    SET = "set"
    SET_CONFIG = "set_config"
    PREPARED_STATEMENT = "prepared_statement"
    NAMED_PREPARED_STATEMENT = "named_prepared_statement"
    DISCARD = "discard"
    TEMPORARY_OBJECT = "temporary_object"
    CURSOR = "cursor"
    LISTEN = "listen"
    LOAD = "load"
    ADVISORY_LOCK = "advisory_lock"
    SEQUENCE_FUNCTION = "sequence_function"
    SEQUENCE_DEFAULT = "sequence_default"
    STARTUP_PARAMETER = "startup_parameter"


@dataclass(frozen=True)
class PinningTrigger:
    """One pinning trigger: its kind and what was seen (SQL with literals blanked, or a parameter name)."""

    kind: PinningKind
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


# Statements that pin by what they are (matched at the start of each statement, lower case, literals blanked).
_STATEMENT_RULES: Final = (
    (PinningKind.SET, re.compile(r"(?:set|reset)\b")),
    (PinningKind.PREPARED_STATEMENT, re.compile(r"(?:prepare|execute|deallocate)\b")),
    (PinningKind.DISCARD, re.compile(r"discard\b")),
    (
        PinningKind.TEMPORARY_OBJECT,
        re.compile(r"create\s+(?:or\s+replace\s+)?(?:(?:global|local)\s+)?(?:temp|temporary)\b"),
    ),
    (PinningKind.CURSOR, re.compile(r"declare\b")),
    (PinningKind.LISTEN, re.compile(r"listen\b")),
    (PinningKind.LOAD, re.compile(r"load\b")),
)
# Calls and clauses that pin wherever they appear.
_ANYWHERE_RULES: Final = (
    (PinningKind.SET_CONFIG, re.compile(r"\bset_config\s*\(")),
    (PinningKind.ADVISORY_LOCK, re.compile(r"\bpg_(?:try_)?advisory_\w*\s*\(")),
    (PinningKind.SEQUENCE_FUNCTION, re.compile(r"\b(?:nextval|setval|currval|lastval)\s*\(")),
    (PinningKind.TEMPORARY_OBJECT, re.compile(r"\binto\s+(?:temp|temporary)\b|\bpg_temp\.")),
)
_TABLE_DDL: Final = re.compile(r"(?:create|alter)\s+(?:(?:global|local)\s+)?(?:(?:temp|temporary|unlogged)\s+)?table\b")
_SEQUENCE_BACKED: Final = re.compile(
    r"\b(?:small|big)?serial[248]?\b|\bgenerated\s+(?:always|by\s+default)\s+as\s+identity\b"
)
_WITH_HOLD: Final = re.compile(r"\bwith\s+hold\b")
# Inside function bodies and DO blocks (PL/pgSQL), a statement also starts after these words.
_BODY_STATEMENT_START: Final = re.compile(r"(?:^|;|\b(?:begin|then|else|loop)\b)\s*")
_BODY_RULE_KINDS: Final = frozenset(
    {PinningKind.SET, PinningKind.TEMPORARY_OBJECT, PinningKind.LISTEN, PinningKind.LOAD, PinningKind.DISCARD}
)
# Blanking: the start of anything whose content is not SQL code.
_NOT_CODE_START: Final = re.compile(
    r"--|/\*|(?<![\w$])[eE]'|'|\"|(?<![\w$])\$([A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$"
)
_WHITESPACE: Final = re.compile(r"\s+")
_PLAIN_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DETAIL_CHARS: Final = 80


def blank_sql(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with string literals, quoted identifiers and comments blanked; dollar-quoted bodies apart.

    Literals become ``''``, comments a space, quoted identifiers their plain name (``"nextval"`` calls
    ``nextval`` too) or ``""``. Dollar-quoted strings usually hold
    code (function bodies, DO blocks), so their contents are returned separately to be inspected as code.
    An unterminated literal or comment blanks the rest of the text.
    """
    code: list[str] = []
    bodies: list[str] = []
    position = 0
    while (match := _NOT_CODE_START.search(sql, position)) is not None:
        code.append(sql[position : match.start()])
        opener = match.group()
        if opener == "--":
            end = _end_after(sql, "\n", match.end())
            code.append(" ")
        elif opener == "/*":
            end = _end_of_block_comment(sql, match.end())
            code.append(" ")
        elif opener.startswith("$"):
            close = sql.find(opener, match.end())
            end = len(sql) if close < 0 else close + len(opener)
            bodies.append(sql[match.end() : close if close >= 0 else len(sql)])
            code.append("''")
        elif opener == '"':
            end = _end_of_quoted(sql, match.end(), quote='"', backslashes=False)
            code.append(_identifier(sql[match.end() : end - 1]))
        else:
            end = _end_of_quoted(sql, match.end(), quote="'", backslashes=opener[0] in "eE")
            code.append("''")
        position = end
    code.append(sql[position:])
    return "".join(code), tuple(bodies)


def _identifier(quoted: str) -> str:
    # "nextval"('s') still calls nextval: a plain name keeps its text; anything else becomes "".
    name = quoted.replace('""', '"')
    return name if _PLAIN_IDENTIFIER.fullmatch(name) else '""'


def _end_after(text: str, terminator: str, start: int) -> int:
    found = text.find(terminator, start)
    return len(text) if found < 0 else found + len(terminator)


def _end_of_block_comment(text: str, start: int) -> int:
    # Block comments nest in PostgreSQL.
    depth, position = 1, start
    while depth and position < len(text):
        if text.startswith("/*", position):
            depth, position = depth + 1, position + 2
        elif text.startswith("*/", position):
            depth, position = depth - 1, position + 2
        else:
            position += 1
    return position


def _end_of_quoted(text: str, start: int, *, quote: str, backslashes: bool) -> int:
    position = start
    while position < len(text):
        char = text[position]
        if backslashes and char == "\\":
            position += 2
        elif char == quote:
            if text.startswith(quote, position + 1):  # a doubled quote stands for itself
                position += 2
            else:
                return position + 1
        else:
            position += 1
    return len(text)


def pinning_triggers(sql: str) -> tuple[PinningTrigger, ...]:
    """Every RDS Proxy pinning trigger in ``sql`` (one or more statements), in order."""
    code, bodies = blank_sql(sql)
    triggers: list[PinningTrigger] = []
    for statement in code.split(";"):
        triggers.extend(_statement_triggers(_normalized(statement)))
    for body in bodies:
        triggers.extend(_body_triggers(body))
    return tuple(dict.fromkeys(triggers))  # once each, in order


def _normalized(statement: str) -> str:
    return _WHITESPACE.sub(" ", statement).strip().lower()


def _statement_triggers(statement: str) -> list[PinningTrigger]:
    if not statement:
        return []
    detail = _detail(statement)
    found = [PinningTrigger(kind, detail) for kind, rule in _STATEMENT_RULES if rule.match(statement)]
    if found and found[0].kind is PinningKind.CURSOR and _WITH_HOLD.search(statement):
        found[0] = PinningTrigger(PinningKind.CURSOR, f"WITH HOLD: {detail}")
    found.extend(PinningTrigger(kind, detail) for kind, rule in _ANYWHERE_RULES if rule.search(statement))
    if _TABLE_DDL.match(statement) and _SEQUENCE_BACKED.search(statement):
        found.append(PinningTrigger(PinningKind.SEQUENCE_DEFAULT, detail))
    return found


def _body_triggers(body: str) -> list[PinningTrigger]:
    code, nested = blank_sql(body)
    text = _normalized(code)
    detail = f"in a dollar-quoted body: {_detail(text)}"
    found = [PinningTrigger(kind, detail) for kind, rule in _ANYWHERE_RULES if rule.search(text)]
    for start in _BODY_STATEMENT_START.finditer(text):
        statement = text[start.end() :]
        found.extend(
            PinningTrigger(kind, detail)
            for kind, rule in _STATEMENT_RULES
            if kind in _BODY_RULE_KINDS and rule.match(statement)
        )
    for inner in nested:
        found.extend(_body_triggers(inner))
    return found


def _detail(statement: str) -> str:
    return statement if len(statement) <= _DETAIL_CHARS else statement[: _DETAIL_CHARS - 3] + "..."


def startup_triggers(parameters: Mapping[str, str]) -> tuple[PinningTrigger, ...]:
    """Startup parameters that set session state (``options``, or any setting beyond who and where)."""
    return tuple(
        PinningTrigger(PinningKind.STARTUP_PARAMETER, name if name != "options" else f"options={value}")
        for name, value in parameters.items()
        if name not in NEUTRAL_STARTUP_PARAMETERS and not name.startswith("_pq_.")
    )
