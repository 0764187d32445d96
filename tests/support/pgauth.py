"""The client side of PostgreSQL authentication, for the test proxy when it logs in to its upstream itself.

Like RDS Proxy, :class:`~tests.support.pgproxy.PgProxy` can check the client's password on its own and then
connect to the database with credentials of its own, so a password rotation can be played in front of any
server the suite is given: a trust-auth one or a password-checked one (testcontainers). This module answers the
server's Authentication requests: cleartext, MD5 and SCRAM-SHA-256 (RFC 5802 and RFC 7677, without channel
binding: the proxy speaks plaintext). Message layouts follow the PostgreSQL documentation, "Message Formats".
Pure functions over bytes, no sockets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "AUTH_CLEARTEXT",
    "AUTH_MD5",
    "AUTH_OK",
    "AUTH_SASL",
    "AUTH_SASL_CONTINUE",
    "AUTH_SASL_FINAL",
    "AuthenticationError",
    "ScramClient",
    "md5_password",
    "password_message",
    "startup_message",
]

# Authentication request codes ('R' messages).
AUTH_OK: Final = 0
AUTH_CLEARTEXT: Final = 3
AUTH_MD5: Final = 5
AUTH_SASL: Final = 10
AUTH_SASL_CONTINUE: Final = 11
AUTH_SASL_FINAL: Final = 12
PROTOCOL_3_0: Final = 196608
SCRAM_SHA_256: Final = "SCRAM-SHA-256"
# "n,,": no channel binding, no authorization identity (RFC 5802, section 7); "biws" is its base64.
GS2_HEADER: Final = "n,,"
NONCE_BYTES: Final = 18


class AuthenticationError(RuntimeError):
    """The server asked for an authentication method this module does not speak, or its proof did not verify."""


def _message(type_byte: bytes, body: bytes) -> bytes:
    return type_byte + struct.pack("!i", len(body) + 4) + body


def startup_message(parameters: Mapping[str, str]) -> bytes:
    """A protocol 3.0 StartupMessage with ``parameters`` (``user`` and ``database`` at least)."""
    pairs = b"".join(key.encode() + b"\x00" + value.encode() + b"\x00" for key, value in parameters.items())
    body = struct.pack("!i", PROTOCOL_3_0) + pairs + b"\x00"
    return struct.pack("!i", len(body) + 4) + body


def password_message(password: str) -> bytes:
    """A PasswordMessage ('p') carrying ``password`` in clear (the answer to AuthenticationCleartextPassword)."""
    return _message(b"p", password.encode() + b"\x00")


def md5_password(user: str, password: str, salt: bytes) -> bytes:
    """The PasswordMessage answering AuthenticationMD5Password: ``"md5" + md5(md5(password + user) + salt)``."""
    inner = hashlib.md5((password + user).encode()).hexdigest()  # noqa: S324 - PostgreSQL's MD5 scheme
    return password_message("md5" + hashlib.md5(inner.encode() + salt).hexdigest())  # noqa: S324


@dataclass
class ScramClient:
    """One SCRAM-SHA-256 exchange: :meth:`first`, then :meth:`final` with the server's first message, then
    :meth:`verify` with its final one. PostgreSQL takes the user from the startup message, so ``user`` is empty."""

    password: str
    user: str = ""
    nonce: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(NONCE_BYTES)).decode())
    _first_bare: str = ""
    _server_signature: bytes = b""

    def first(self) -> bytes:
        """The SASLInitialResponse ('p'): the mechanism name and the client-first message."""
        self._first_bare = f"n={self.user},r={self.nonce}"
        data = (GS2_HEADER + self._first_bare).encode()
        return _message(b"p", SCRAM_SHA_256.encode() + b"\x00" + struct.pack("!i", len(data)) + data)

    def final_data(self, server_first: str) -> str:
        """The client-final message (with its proof) for ``server_first``."""
        fields = dict(part.split("=", 1) for part in server_first.split(","))
        if not fields["r"].startswith(self.nonce):
            raise AuthenticationError("the server's SCRAM nonce does not extend the client's")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        without_proof = f"c={base64.b64encode(GS2_HEADER.encode()).decode()},r={fields['r']}"
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = hmac.digest(hmac.digest(salted, b"Server Key", "sha256"), auth_message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def final(self, server_first: bytes) -> bytes:
        """The SASLResponse ('p') answering AuthenticationSASLContinue."""
        return _message(b"p", self.final_data(server_first.decode()).encode())

    def verify(self, server_final: bytes) -> None:
        """Check the server's signature (AuthenticationSASLFinal): it proves the server knew the password too.

        Raises:
            AuthenticationError: the signature does not match.
        """
        fields = dict(part.split("=", 1) for part in server_final.decode().split(","))
        if not hmac.compare_digest(base64.b64decode(fields.get("v", "")), self._server_signature):
            raise AuthenticationError("the server's SCRAM signature does not verify")
