"""A throwaway PostgreSQL cluster from the local server binaries: the local pipeline's database without Docker.

initdb into a temporary directory, trust authentication on 127.0.0.1 only, a free port, the Unix socket inside
the directory; stopped and deleted on exit. initdb refuses to run as root, so under uid 0 the cluster runs as the
``postgres`` OS user (else ``nobody``) through ``setpriv``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sluice_shared.errors import DatabaseUnavailableError

__all__ = ["PostgresBinaries", "ThrowawayCluster", "find_postgres_binaries"]

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class PostgresBinaries:
    """The two server programs a throwaway cluster needs."""

    initdb: Path
    postgres: Path


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
