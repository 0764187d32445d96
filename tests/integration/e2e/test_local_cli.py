"""``sluice local up`` and ``sluice local demo`` as a person runs them: real processes, real signals."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from sluice_shared import environment as env
from tests.support.factories import event_dict

SLUICE = str(Path(sys.executable).parent / "sluice")
START_LIMIT_SECONDS = 120


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


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_local_up_serves_until_signalled_then_leaves_nothing_behind(stop_signal):
    # given sluice local up with no database URL: it starts a throwaway cluster
    with subprocess.Popen(
        [SLUICE, "local", "up", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    ) as process:
        try:
            printed = "".join(_read_until(_lines(process.stdout), "sluice push"))
            directory = _serve_one_event(printed)

            # when the signal arrives
            process.send_signal(stop_signal)
            assert process.wait(timeout=START_LIMIT_SECONDS) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.stderr is not None
        errors = process.stderr.read()

    # then everything stopped and nothing is left
    assert "stopped; nothing left running" in errors
    assert _server_processes(directory) == []
    assert not Path(directory).exists()


def _serve_one_event(printed: str) -> str:
    """POST one event to the URL ``sluice local up`` printed; check it is stored; return the cluster's directory."""
    ingest = re.search(r"ingest URL\s+(\S+)", printed)
    database = re.search(r"export SLUICE_DATABASE_URL='([^']+)'", printed)
    assert ingest is not None, printed
    assert database is not None, printed
    ingest_url, database_url = ingest.group(1), database.group(1)
    assert "throwaway local cluster" in printed
    assert re.search(r"payload models\s+Sluice's sample catalog", printed)
    assert "export SLUICE_PAYLOAD_REGISTRY='sluice_shared.catalog:default_registry'" in printed
    assert re.search(r"export SLUICE_QUEUE_URL='http://127\.0\.0\.1:\d+/\d+/sluice-local-events'", printed)
    event = event_dict()
    request = urllib.request.Request(  # noqa: S310 - loopback URL the command printed
        ingest_url, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}
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
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    directory = row[0]
    assert _server_processes(directory)
    return str(Path(directory).parent)


def test_local_demo_prints_a_reconciled_summary(database_factory):
    result = subprocess.run(
        [SLUICE, "local", "demo", "--events", "200", "--database-url", database_factory.create()],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
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
