"""``sluice local up`` and ``sluice local demo`` as a person runs them: real processes, real signals."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from sluice_local.cluster import find_postgres_binaries
from sluice_local.container import docker_reachable, remove_orphaned_containers
from sluice_local.database import DatabaseKind
from sluice_shared import environment as env
from tests.support.factories import event_dict

if TYPE_CHECKING:
    from collections.abc import Iterator

SLUICE = str(Path(sys.executable).parent / "sluice")
START_LIMIT_SECONDS = 120
STOP_LIMIT_SECONDS = 60


def _environment(**extra: str) -> dict[str, str]:
    variables = {name: value for name, value in os.environ.items() if name != env.DATABASE_URL}
    return {**variables, **extra}


def _lines(stream) -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str | None], marker: str) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + START_LIMIT_SECONDS
    while time.monotonic() < deadline:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"{marker!r} not printed; output so far: {''.join(seen)}")


def _server_processes(directory: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if directory in command:
                found.append(command)
    return found


def _container_exists(container_id: str) -> bool:
    import docker  # noqa: PLC0415 - only on the Docker path

    client = docker.from_env()
    try:
        client.containers.get(container_id)
    except docker.errors.NotFound:
        return False
    finally:
        client.close()
    return True


def _what_local_up_provisions() -> DatabaseKind:
    """What ``sluice local up`` picks without a URL on this machine; EXPLICIT when it could not provision one."""
    if docker_reachable():
        return DatabaseKind.CONTAINER
    if find_postgres_binaries() is not None:
        return DatabaseKind.CLUSTER
    return DatabaseKind.EXPLICIT


class _Sluice:
    """A running ``sluice`` process and the throwaway cluster directories it printed (removed if left behind)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.directories: list[Path] = []


@contextmanager
def _sluice(*args: str) -> Iterator[_Sluice]:
    """Run ``sluice`` and make sure nothing it started outlives the test: SIGTERM first (it stops what it started),
    SIGKILL if it hangs; then any container it could not remove (its label names its pid) and any cluster
    directory it left (the kernel stops a killed CLI's server, not its directory) are removed."""
    process = subprocess.Popen(
        [SLUICE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment()
    )
    running = _Sluice(process)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_LIMIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if docker_reachable():
            remove_orphaned_containers()
        for directory in running.directories:
            deadline = time.monotonic() + STOP_LIMIT_SECONDS
            while _server_processes(str(directory)) and time.monotonic() < deadline:
                time.sleep(0.1)
            shutil.rmtree(directory, ignore_errors=True)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_local_up_serves_until_signalled_then_leaves_nothing_behind(stop_signal, database_factory):
    # given sluice local up with no database URL: it starts a container or a throwaway cluster, whichever this
    # machine can run (given the suite's server only when it can run neither)
    kind = _what_local_up_provisions()
    explicit = database_factory.create() if kind is DatabaseKind.EXPLICIT else None
    with _sluice("local", "up", "--log-level", "WARNING", *(["--database-url", explicit] if explicit else [])) as run:
        up = run.process
        printed = "".join(_read_until(_lines(up.stdout), "sluice push"))
        where = _serve_one_event(printed, kind, explicit)
        if kind is DatabaseKind.CLUSTER:
            run.directories.append(Path(where))

        # when the signal arrives
        up.send_signal(stop_signal)
        assert up.wait(timeout=STOP_LIMIT_SECONDS) == 0
        assert up.stderr is not None
        errors = up.stderr.read()

        # then everything stopped and nothing is left (checked before the clean-up a failure would need)
        assert "stopped; nothing left running" in errors
        if kind is DatabaseKind.CLUSTER:
            assert _server_processes(where) == []
            assert not Path(where).exists()
        elif kind is DatabaseKind.CONTAINER:
            assert not _container_exists(where)


def _serve_one_event(printed: str, kind: DatabaseKind, explicit: str | None) -> str:
    """POST one event to the URL ``sluice local up`` printed and check it is stored through the exported database
    URL; return where the database runs (the cluster's directory or the container's id; empty for a URL)."""
    ingest = re.search(r"ingest URL\s+(\S+)", printed)
    database = re.search(r"database\s+\S+\s+\((.+)\)$", printed, re.MULTILINE)
    exported = re.search(r"export SLUICE_DATABASE_URL='([^']+)'", printed)
    assert ingest is not None, printed
    assert database is not None, printed
    assert re.search(r"payload models\s+Sluice's sample catalog", printed)
    assert "export SLUICE_PAYLOAD_REGISTRY='sluice_shared.catalog:default_registry'" in printed
    assert re.search(r"export SLUICE_QUEUE_URL='http://127\.0\.0\.1:\d+/\d+/sluice-local-events'", printed)
    described = database.group(1).split(", ")
    assert described[0] == kind.value, printed
    where = described[1].split(" ", 1)[1] if len(described) > 1 else ""
    # the exported URL is one psql and sluice accept (password included), unless it is the user's own
    assert exported is not None or explicit is not None, printed
    database_url = exported.group(1) if exported is not None else str(explicit)
    # an order of the sample catalog (the default registry of `sluice local up`): its table sink writes orders too
    order = {"order_id": "ord-1", "customer_id": "cus-1", "currency": "EUR", "total_cents": 500}
    event = event_dict(
        event_type="order.created", payload={**order, "lines": [{"sku": "a", "quantity": 1, "unit_price_cents": 500}]}
    )
    request = urllib.request.Request(  # noqa: S310 - loopback URL the command printed
        ingest.group(1), data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 202
    deadline = time.monotonic() + START_LIMIT_SECONDS
    stored: list[tuple[str]] = []
    while not stored and time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            stored = conn.execute("SELECT event_id::text FROM events").fetchall()
        time.sleep(0.2)
    assert stored == [(event["event_id"],)]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT order_id, total_cents FROM orders").fetchall() == [("ord-1", 500)]
    if kind is DatabaseKind.CLUSTER:
        assert _server_processes(where)
    elif kind is DatabaseKind.CONTAINER:
        assert _container_exists(where)
    return where


def test_local_demo_prints_a_reconciled_summary(database_factory):
    result = subprocess.run(
        [SLUICE, "local", "demo", "--events", "200", "--database-url", database_factory.create()],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr  # the summary (stdout) names what did not add up
    assert (
        "payload models: Sluice's sample catalog (SLUICE_PAYLOAD_REGISTRY=sluice_shared.catalog:default_registry)"
        in (result.stderr)
    )
    summary = {
        match.group(1).strip(): match.group(2)
        for match in re.finditer(r"^  (\S[\w ]*?)\s{2,}([\d,]+|yes|NO)\b", result.stdout, re.MULTILINE)
    }
    assert summary["sent"] == "200"
    assert int(summary["accepted"]) + int(summary["rejected at the door"]) == 200
    assert int(summary["stored"]) + int(summary["duplicates skipped"]) == int(summary["accepted"])
    assert summary["reconciled"] == "yes"
    assert re.search(
        r"^  table orders\s+[\d,]+  rows, [\d,]+ implied by the stored events$", result.stdout, re.MULTILINE
    )
    assert re.search(
        r"^  table payments\s+[\d,]+  rows, [\d,]+ implied by the stored events$", result.stdout, re.MULTILINE
    )
