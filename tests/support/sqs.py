"""A real SQS-compatible HTTP endpoint on loopback for tests: the moto server, in a thread.

See ../shared/FACTS.md: moto is correct for redrive, visibility, attributes and FIFO, but slow with a
backlog (keep queues shallow) and lacks ``StartMessageMoveTask``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION: Final = "us-east-1"
# moto accepts any credentials; fixed fake ones keep boto3 from searching the machine for real ones.
FAKE_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Run a moto server on 127.0.0.1 (free port) and yield its endpoint URL."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
