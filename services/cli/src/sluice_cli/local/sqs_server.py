"""An SQS-compatible HTTP endpoint on loopback: the moto server, embedded in this process.

moto keeps its state in module globals, so every embedded server of one process shares the same queues:
give queues unique names when several pipelines run in one process (tests do). moto is correct for redrive,
visibility timeouts, long polling and FIFO, and slow with a backlog (each call costs time proportional to the
queue's depth: a 2,000-message backlog drained at ~13 msg/s on the 2-core development machine): keep queues shallow.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any, Final

from sluice_shared.errors import ConfigurationError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["LOOPBACK", "EmbeddedSqs"]

LOOPBACK: Final = "127.0.0.1"


class EmbeddedSqs:
    """Runs a moto server on 127.0.0.1 (``port`` 0 picks a free one) from :meth:`start` to :meth:`stop`."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self._server: Any = None
        self.endpoint_url: str | None = None

    def start(self) -> str:
        """Start serving; return the endpoint URL.

        Raises:
            ConfigurationError: the port is taken.
        """
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - moto costs ~1 s to import: only when used

        if self.port:
            # moto binds inside its own thread and would wait forever for a port it could not get: check first.
            _check_free(self.port)
        # werkzeug logs one INFO line per request; the pipeline's own logs are what a person wants to read.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> EmbeddedSqs:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _check_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise ConfigurationError(f"cannot serve SQS on {LOOPBACK}:{port}: {exc.strerror}") from exc
