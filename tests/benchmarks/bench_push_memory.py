"""Memory benchmark: ``sluice push`` streams, so its peak RSS stays flat whatever the size of the file.

Run: ``.venv/bin/python tests/benchmarks/bench_push_memory.py [--size-mb 1024] [--send-mb 16 64]``
(``make bench`` runs it with the defaults). It writes a JSON Lines file of about ``--size-mb`` MB of generated
events (~330 bytes each: 1 GiB holds ~3.3 million) into a temporary directory, removed afterwards, then runs
the real ``sluice`` command as a child process and reports the child's peak resident set size (``ru_maxrss``
from ``wait4``), its time and its rate:

- ``sluice push FILE --dry-run`` over the whole file: every event read and validated;
- ``sluice push FILE`` sending the first ``--send-mb`` MB of the file (each size in turn) to a moto server in
  its own process, drained as it goes (moto, pure Python, takes ~1,000-2,000 events/s: sending the whole
  gigabyte takes most of an hour; pass ``--send-mb 1024`` to do it).

Flat memory shows as the same peak RSS for every size. Figures depend on the machine: compare sizes within
one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Final

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.bench_push import sqs_server
from tests.support.bench import load_reported
from tests.support.sqs import FAKE_CREDENTIALS

SLUICE: Final = Path(sys.executable).with_name("sluice")
TEMPLATES: Final = 10_000  # distinct generated events, repeated with fresh ids to fill the file
MB: Final = 1024 * 1024


def write_events(path: Path, size_bytes: int) -> int:
    """Write about ``size_bytes`` of JSON Lines events, each with its own ``event_id``; return the count."""
    from sluice_cli.generate import generate_events  # noqa: PLC0415

    rng = random.Random(2026)
    templates = [(event["event_id"], json.dumps(event)) for event in generate_events(TEMPLATES, seed=2026)]
    count = written = 0
    with path.open("w", encoding="utf-8") as handle:
        while written < size_bytes:
            old_id, line = templates[count % TEMPLATES]
            line = line.replace(old_id, str(uuid.UUID(int=rng.getrandbits(128), version=4)), 1) + "\n"
            handle.write(line)
            written += len(line)
            count += 1
    return count


def first_bytes(source: Path, target: Path, size_bytes: int) -> None:
    """Copy whole lines of ``source`` into ``target`` up to about ``size_bytes``."""
    written = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        for line in reader:
            if written >= size_bytes:
                return
            writer.write(line)
            written += len(line)


def run_measured(argv: list[str]) -> tuple[int, float, int, str]:
    """Run ``argv``; return its exit status, wall seconds, peak RSS in KiB and its first output line."""
    began = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    output = child.stdout.read() if child.stdout is not None else b""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, with its resource usage
    errors = child.stderr.read() if child.stderr is not None else b""
    first = (output or errors).decode(errors="replace").splitlines()[0] if (output or errors) else ""
    return child.returncode, seconds, usage.ru_maxrss, first


def report(label: str, events: int, measured: tuple[int, float, int, str]) -> None:
    code, seconds, rss_kib, first = measured
    print(
        f"  {label:<40} {events:>10,} {seconds:>9.1f} {events / seconds:>10,.0f} {rss_kib / 1024:>10.1f}   exit {code}"
    )
    print(f"  {'':<40} {first}")


def main() -> None:
    """Write the file, run the dry run and the sends, print peak RSS for each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the JSON Lines file (dry run)")
    parser.add_argument("--send-mb", type=int, nargs="*", default=[16, 64], help="sizes actually sent")
    args = parser.parse_args()
    os.environ.update(FAKE_CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="sluice-bench-") as workdir:
        big = Path(workdir) / "events.jsonl"
        began = time.perf_counter()
        count = write_events(big, args.size_mb * MB)
        print(
            f"wrote {big.stat().st_size / MB:,.0f} MB, {count:,} events in {time.perf_counter() - began:.0f} s; "
            f"peak RSS of the `sluice` child process for each run:",
            flush=True,
        )
        print(f"  {'run':<40} {'events':>10} {'seconds':>9} {'events/s':>10} {'RSS MB':>10}")
        report(f"push --dry-run, {args.size_mb} MB", count, run_measured([str(SLUICE), "push", str(big), "--dry-run"]))
        with sqs_server(0) as server:
            import boto3  # noqa: PLC0415

            client = boto3.client("sqs", endpoint_url=server.endpoint)
            for size_mb in args.send_mb:
                part = big if size_mb >= args.size_mb else Path(workdir) / f"first-{size_mb}.jsonl"
                if part != big:
                    first_bytes(big, part, size_mb * MB)
                with part.open("rb") as handle:
                    events = sum(1 for _ in handle)
                queue_url = client.create_queue(QueueName=f"memory-{size_mb}")["QueueUrl"]
                argv = [str(SLUICE), "push", str(part), "--queue-url", queue_url, "--endpoint-url", server.endpoint]
                report(f"push to moto, {size_mb} MB", events, run_measured(argv))
                drained = len(server.drained_ids(f"memory-{size_mb}"))
                if drained != events:
                    raise SystemExit(f"{size_mb} MB: the queue got {drained} messages, not {events}")
                if part != big:
                    part.unlink()
        print("  every sent event accounted for (drained from the queue)")


if __name__ == "__main__":
    with load_reported():
        main()
