"""The local pipeline's PostgreSQL as a testcontainers container, when a Docker engine answers a ping.

The container is removed on exit. It is labelled with the owning process and host (:data:`OWNER_PID_LABEL`,
:data:`OWNER_HOST_LABEL`): a process killed before it could remove its container (SIGKILL; Ryuk, testcontainers'
reaper, is often off) leaves one behind, and the next start on this host removes every labelled container whose
owner is gone (:func:`remove_orphaned_containers`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit

from sluice_local.database import DatabaseKind, ProvisionedDatabase
from sluice_shared.errors import DatabaseUnavailableError

__all__ = [
    "DEFAULT_DOCKER_SOCKET",
    "OWNER_HOST_LABEL",
    "OWNER_PID_LABEL",
    "POSTGRES_IMAGE",
    "docker_listening",
    "docker_reachable",
    "postgres_container",
    "remove_orphaned_containers",
]

logger = logging.getLogger(__name__)

POSTGRES_IMAGE: Final = "postgres:16"
DOCKER_PING_TIMEOUT_SECONDS: Final = 3
DEFAULT_DOCKER_SOCKET: Final = "/var/run/docker.sock"
OWNER_PID_LABEL: Final = "io.sluice.owner-pid"
OWNER_HOST_LABEL: Final = "io.sluice.owner-host"


def docker_reachable() -> bool:
    """True when a Docker engine (``DOCKER_HOST`` or the default socket) answers a ping within a few seconds.

    A plain socket (opened and closed here) first checks that something listens: the docker client leaks its
    socket when it cannot connect, and most machines without Docker never get past this check.
    """
    try:
        import docker  # noqa: PLC0415 - optional path, heavy import
        from docker.utils import kwargs_from_env  # noqa: PLC0415

        if not docker_listening(kwargs_from_env().get("base_url")):
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_SECONDS)
            try:
                return bool(client.ping())
            finally:
                client.close()
    except Exception:  # noqa: BLE001 - any failure (no socket, no permission, no engine) means "no Docker"
        return False


def docker_listening(base_url: str | None) -> bool:
    """Whether a unix or tcp Docker endpoint accepts a connection; True for schemes not checked here (ssh, npipe)."""
    url = base_url or f"unix://{DEFAULT_DOCKER_SOCKET}"
    if url.startswith(("unix://", "http+unix://")):
        family: int = socket.AF_UNIX
        address: Any = url.split("://", 1)[1]
    elif url.startswith(("tcp://", "http://", "https://")):
        parts = urlsplit(url.replace("tcp://", "http://", 1))
        family, address = socket.AF_INET, (parts.hostname or "localhost", parts.port or 2375)
    else:
        return True
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(DOCKER_PING_TIMEOUT_SECONDS)
        try:
            probe.connect(address)
        except OSError:
            return False
    return True


def remove_orphaned_containers() -> list[str]:
    """Remove the PostgreSQL containers whose owning process on this host has gone; return their ids.

    Containers owned by a live process, or started on another host, are left alone.
    """
    import docker  # noqa: PLC0415 - only with Docker

    host = socket.gethostname()
    client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_SECONDS)
    removed: list[str] = []
    try:
        for container in client.containers.list(all=True, filters={"label": f"{OWNER_HOST_LABEL}={host}"}):
            owner = container.labels.get(OWNER_PID_LABEL, "")
            if owner.isdigit() and not _process_alive(int(owner)):
                container.remove(force=True, v=True)
                removed.append(container.short_id)
    finally:
        client.close()
    if removed:
        logger.warning("removed %d PostgreSQL containers left by stopped processes: %s", len(removed), removed)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


@contextmanager
def postgres_container() -> Iterator[ProvisionedDatabase]:
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415 - only with Docker

    try:
        remove_orphaned_containers()
        labels = {OWNER_PID_LABEL: str(os.getpid()), OWNER_HOST_LABEL: socket.gethostname()}
        container = PostgresContainer(POSTGRES_IMAGE, driver=None, labels=labels)
        try:
            container.start()
        except Exception:
            # Created but never ready (the readiness wait timed out): remove it now, not at a later start.
            with contextlib.suppress(Exception):
                container.stop()
            raise
    except Exception as exc:  # classified right here: the engine answered a ping but could not run it
        raise DatabaseUnavailableError(f"could not start a {POSTGRES_IMAGE} container: {exc}") from exc
    try:
        where = f"container {container.get_wrapped_container().short_id}"
        yield ProvisionedDatabase(str(container.get_connection_url()), DatabaseKind.CONTAINER, where)
    finally:
        container.stop()
