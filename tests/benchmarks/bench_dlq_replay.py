"""Figures for ``sluice dlq`` on the local moto server: ``.venv/bin/python tests/benchmarks/bench_dlq_replay.py``.

Prints how long it takes to fill a DLQ with 1,000 dead letters, read them all for ``stats``, and replay them
(600 with a filter and ``--rate``, then the other 400), on the in-process moto server with the cheap clock the
integration tests install (``tests.support.sqs.fast_moto_clock``; moto's stock clock is ~10x slower with a
deep queue). moto's cost per call grows with queue depth, so these are figures for moto, not for SQS.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import boto3

from sluice_cli.app import main as sluice
from sluice_shared.errors import UnknownEventTypeError

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.integration.dlq.conftest import make_queues
from tests.support.bench import load_reported
from tests.support.factories import event_body
from tests.support.sqs import FAKE_CREDENTIALS, moto_server

COUNT = 1000


def _run(label: str, *argv: str) -> float:
    started = time.perf_counter()
    with redirect_stdout(StringIO()) as captured:
        status = sluice(list(argv))
    elapsed = time.perf_counter() - started
    summary = captured.getvalue().splitlines()[0] if captured.getvalue() else ""
    print(f"  {label:<48} {elapsed:6.1f} s  (exit {status}) {summary}")
    return elapsed


def bench(endpoint: str, name: str) -> None:
    client = boto3.client("sqs", endpoint_url=endpoint)
    queues = make_queues(client, name)
    started = time.perf_counter()
    queues.dead_letter([event_body(event_type="order.created") for _ in range(COUNT * 6 // 10)])
    queues.dead_letter(
        [event_body(event_type="order.cancelled") for _ in range(COUNT * 4 // 10)],
        error=UnknownEventTypeError.single("event_type", "no model"),
    )
    print(f"  {'fill the DLQ with 1,000 (100 SendMessageBatch)':<48} {time.perf_counter() - started:6.1f} s")
    _run("stats over 1,000", "dlq", "stats", "-q", queues.dlq_url)
    elapsed = _run("replay 600 of 1,000 (--event-type, --rate 500)", "dlq", "replay", "-q", queues.dlq_url,
                   "--event-type", "order.created", "--rate", "500")  # fmt: skip
    print(f"  {'':<48} = {600 / elapsed:.0f} messages replayed a second")
    elapsed = _run("replay the other 400", "dlq", "replay", "-q", queues.dlq_url)
    print(f"  {'':<48} = {400 / elapsed:.0f} messages replayed a second")


def main() -> None:
    os.environ.update(FAKE_CREDENTIALS)
    with moto_server() as url:  # with the tests' cheap moto clock: moto's stock clock makes this ~10x slower
        os.environ["AWS_ENDPOINT_URL"] = url
        print("DLQ replay on the local moto server (these figures measure moto, not SQS):")
        bench(url, "bench")


if __name__ == "__main__":
    with load_reported():
        main()
