"""Figures for ``sluice dlq`` on the local moto server: ``.venv/bin/python -m tests.integration.dlq.bench_replay``.

Prints how long it takes to fill a DLQ with 1,000 dead letters, read them all for ``stats``, and replay them
(unfiltered, then again with filters and ``--rate``), with moto's stock clock and with the cheap clock the
integration tests install (see ``conftest._fast_moto_clock``). moto's cost per call grows with queue depth,
so these are figures for moto, not for SQS.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import redirect_stdout
from io import StringIO

import boto3
import moto.sqs.models as sqs_models

from sluice_cli.app import main
from sluice_shared.errors import UnknownEventTypeError
from tests.integration.dlq.conftest import make_queues
from tests.support.factories import event_body
from tests.support.sqs import FAKE_CREDENTIALS, moto_server

COUNT = 1000


def _run(label: str, *argv: str) -> float:
    started = time.perf_counter()
    with redirect_stdout(StringIO()) as captured:
        status = main(list(argv))
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


if __name__ == "__main__":
    os.environ.update(FAKE_CREDENTIALS)
    with moto_server() as url:
        os.environ["AWS_ENDPOINT_URL"] = url
        stock = sqs_models.unix_time_millis
        print("moto, stock clock:")
        bench(url, "bench-stock")
        sqs_models.unix_time_millis = lambda dt=None: stock(dt) if dt is not None else time.time() * 1000.0
        print("moto, cheap clock (as in the integration tests):")
        bench(url, "bench-fast")
    sys.exit(0)
