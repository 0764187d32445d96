"""Unit tests run with the network disabled: anything reaching for a socket fails loudly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_socket

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    # Unix sockets stay allowed: they are local (jsii talks to node over pipes, asyncio uses socketpairs).
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()
