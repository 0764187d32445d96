"""Where the local pipeline's PostgreSQL comes from, tried in order, and how each one is cleaned up.

1. An explicit URL (``--database-url`` / ``SLUICE_DATABASE_URL``): used as is, never dropped.
2. A testcontainers ``PostgresContainer`` when a Docker engine answers a ping: removed on exit. It is labelled
   with the owning process and host (:data:`OWNER_PID_LABEL`, :data:`OWNER_HOST_LABEL`): a process killed before
   it could remove its container (SIGKILL; Ryuk, testcontainers' reaper, is often off) leaves one behind, and
   the next start on this host removes every labelled container whose owner is gone
   (:func:`remove_orphaned_containers`).
3. A throwaway cluster from local PostgreSQL server binaries (``initdb`` and ``postgres`` on ``PATH`` or in a
   usual install directory): initdb into a temporary directory, trust authentication on 127.0.0.1 only, a
   free port, the Unix socket inside the directory; stopped and deleted on exit. initdb refuses to run as
   root, so under uid 0 the cluster runs as the ``postgres`` OS user (else ``nobody``) through ``setpriv``.
4. Otherwise one clear error naming the three options.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from sluice_shared import environment as env
from sluice_shared.errors import ConfigurationError, DatabaseUnavailableError

__all__ = [
    "NO_DATABASE_MESSAGE",
    "OWNER_HOST_LABEL",
    "OWNER_PID_LABEL",
    "DatabaseKind",
    "NoDatabaseError",
    "PostgresBinaries",
    "ProvisionedDatabase",
    "ThrowawayCluster",
    "docker_listening",
    "docker_reachable",
    "find_postgres_binaries",
    "mask_password",
    "provision_postgres",
    "remove_orphaned_containers",
]

logger = logging.getLogger(__name__)

POSTGRES_IMAGE: Final = "postgres:16"
NO_DATABASE_MESSAGE: Final = (
    f"no PostgreSQL for the local pipeline: pass --database-url (or set {env.DATABASE_URL}), start a Docker "
    "engine (testcontainers then runs " + POSTGRES_IMAGE + "), or install the PostgreSQL server binaries "
    "(initdb and postgres on PATH or under /usr/lib/postgresql/<version>/bin) for a throwaway local cluster"
)
# Where distributions and Homebrew put the server binaries when they are not on PATH; newest version first.
# Patterns are relative to the filesystem root.
BINARY_DIR_PATTERNS: Final = (
    "usr/lib/postgresql/*/bin",
    "usr/pgsql-*/bin",
    "usr/local/pgsql/bin",
    "opt/homebrew/opt/postgresql*/bin",
    "usr/local/opt/postgresql*/bin",
)
UNPRIVILEGED_USERS: Final = ("postgres", "nobody")
READY_TIMEOUT_SECONDS: Final = 30
STOP_TIMEOUT_SECONDS: Final = 15
DOCKER_PING_TIMEOUT_SECONDS: Final = 3
DEFAULT_DOCKER_SOCKET: Final = "/var/run/docker.sock"
OWNER_PID_LABEL: Final = "io.sluice.owner-pid"
OWNER_HOST_LABEL: Final = "io.sluice.owner-host"
MASK: Final = "***"


class NoDatabaseError(ConfigurationError):
    """No explicit URL, no Docker engine and no PostgreSQL server binaries: the pipeline has no database."""

    code = "no_database"


class DatabaseKind(StrEnum):
    """Which of the three sources provided the database."""

    EXPLICIT = "explicit URL"
    CONTAINER = "testcontainers"
    CLUSTER = "throwaway local cluster"


@dataclass(frozen=True, slots=True)
class ProvisionedDatabase:
    """A database URL and where it came from."""

    url: str
    kind: DatabaseKind
    where: str = ""  # the container's id or the cluster's directory: what to look for if it were left behind

    @property
    def masked_url(self) -> str:
        """The URL with any password replaced by ``***`` (for printing)."""
        return mask_password(self.url)


@dataclass(frozen=True, slots=True)
class PostgresBinaries:
    """The two server programs a throwaway cluster needs."""

    initdb: Path
    postgres: Path


def mask_password(url: str) -> str:
    """``url`` (URL or ``key=value`` conninfo) with its password replaced by ``***``."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostinfo}"))
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415 - only for conninfo strings

    try:
        params = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - an unparseable string is printed fully masked, never half-shown
        return MASK
    if "password" not in params:
        return url
    params["password"] = MASK
    return make_conninfo("", **params)


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


def find_postgres_binaries() -> PostgresBinaries | None:
    """``initdb`` and ``postgres`` from PATH, else from the newest usual install directory; None if absent."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres:
        return PostgresBinaries(Path(initdb).resolve(), Path(postgres).resolve())
    for pattern in BINARY_DIR_PATTERNS:
        for candidate in sorted(Path("/").glob(pattern), key=_version_key, reverse=True):
            if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
                return PostgresBinaries(candidate / "initdb", candidate / "postgres")
    return None


def _version_key(directory: Path) -> tuple[int, ...]:
    digits = "".join(char if char.isdigit() else " " for char in str(directory))
    return tuple(int(part) for part in digits.split())


@contextmanager
def provision_postgres(
    database_url: str | None,
    *,
    docker_available: Callable[[], bool] = docker_reachable,
    find_binaries: Callable[[], PostgresBinaries | None] = find_postgres_binaries,
    start_container: Callable[[], AbstractContextManager[ProvisionedDatabase]] | None = None,
) -> Iterator[ProvisionedDatabase]:
    """Yield a PostgreSQL database from the first available source; clean it up on exit.

    Raises:
        NoDatabaseError: none of the three sources is available.
        DatabaseUnavailableError: a container or cluster did not start (its output is in the message).
    """
    if database_url:
        yield ProvisionedDatabase(database_url, DatabaseKind.EXPLICIT)
        return
    if docker_available():
        with (start_container or _postgres_container)() as container:
            yield container
        return
    binaries = find_binaries()
    if binaries is None:
        raise NoDatabaseError(NO_DATABASE_MESSAGE)
    with ThrowawayCluster(binaries) as cluster:
        yield ProvisionedDatabase(cluster.url, DatabaseKind.CLUSTER, f"directory {cluster.directory}")


@contextmanager
def _postgres_container() -> Iterator[ProvisionedDatabase]:
    from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415 - only with Docker

    try:
        remove_orphaned_containers()
        labels = {OWNER_PID_LABEL: str(os.getpid()), OWNER_HOST_LABEL: socket.gethostname()}
        container = PostgresContainer(POSTGRES_IMAGE, driver=None, labels=labels)
        container.start()
    except Exception as exc:  # classified right here: the engine answered a ping but could not run it
        raise DatabaseUnavailableError(f"could not start a {POSTGRES_IMAGE} container: {exc}") from exc
    try:
        where = f"container {container.get_wrapped_container().short_id}"
        yield ProvisionedDatabase(str(container.get_connection_url()), DatabaseKind.CONTAINER, where)
    finally:
        container.stop()


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only, deleted on :meth:`stop`."""

    def __init__(self, binaries: PostgresBinaries, *, port: int = 0) -> None:
        self.binaries = binaries
        self.port = port
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """A libpq URL for the cluster's ``postgres`` database as the ``postgres`` superuser (trust auth)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        """initdb, start ``postgres`` and wait until it accepts connections; return :attr:`url`.

        Raises:
            DatabaseUnavailableError: initdb or the server failed (with the tail of their output).
        """
        directory = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
        self.directory = directory
        try:
            prefix = _run_as_prefix(directory)
            self._initdb(prefix, directory)
            self.port = self.port or _free_port()
            log = (directory / "postgres.log").open("wb")
            command = [
                *prefix,
                *_die_with_parent(),
                str(self.binaries.postgres),
                "-D",
                str(directory / "data"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(directory),
                # A throwaway cluster need not survive a crash: skip the fsyncs that make writes durable.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
            # Its own session: Ctrl-C in the terminal reaches the CLI only, which then stops the server last.
            self._process = subprocess.Popen(  # noqa: S603 - fixed program and arguments, no shell
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
            self._wait_ready(directory)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Stop the server (fast shutdown, then kill) and delete the directory (idempotent)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown: roll back, disconnect, stop
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, onerror=_log_removal_error)

    def __enter__(self) -> ThrowawayCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _initdb(self, prefix: list[str], directory: Path) -> None:
        command = [
            *prefix,
            str(self.binaries.initdb),
            "-D",
            str(directory / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]
        result = subprocess.run(command, capture_output=True, check=False)  # noqa: S603 - fixed program, no shell
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise DatabaseUnavailableError(f"initdb failed ({result.returncode}): {_tail(output)}")

    def _wait_ready(self, directory: Path) -> None:
        import psycopg  # noqa: PLC0415 - ~130 ms, only when a cluster is started

        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                output = (directory / "postgres.log").read_text(errors="replace")
                raise DatabaseUnavailableError(f"postgres exited while starting: {_tail(output)}")
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseUnavailableError(
                        f"postgres did not accept connections within {READY_TIMEOUT_SECONDS} s: {exc}"
                    ) from exc
                time.sleep(0.1)
                continue
            return


def _run_as_prefix(directory: Path) -> list[str]:
    """The command prefix that runs the server unprivileged: empty unless we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    import pwd  # noqa: PLC0415 - POSIX only, and only needed as root

    setpriv = shutil.which("setpriv")
    for name in UNPRIVILEGED_USERS:
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        if setpriv is None:
            raise DatabaseUnavailableError(
                "running as root: initdb refuses root and setpriv (util-linux) is missing to drop to "
                f"the {name!r} user; run as a regular user or pass --database-url"
            )
        os.chown(directory, user.pw_uid, user.pw_gid)
        return [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
    raise DatabaseUnavailableError(
        "running as root: initdb refuses root and neither a 'postgres' nor a 'nobody' user exists; "
        "run as a regular user or pass --database-url"
    )


def _die_with_parent() -> list[str]:
    """Ask the kernel to stop the server if this process dies without stopping it (Linux setpriv only).

    Set after any uid change (a credential change clears it), for the thread that starts the server.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "INT", "--"] if setpriv else []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(output: str, lines: int = 5) -> str:
    return " | ".join(output.strip().splitlines()[-lines:]) or "(no output)"


def _log_removal_error(function: Any, path: str, exc_info: Any) -> None:
    logger.warning("could not remove %s (%s): %s", path, getattr(function, "__name__", function), exc_info[1])
