"""Push benchmark: the Sluice publisher and the ingest handler vs one ``SendMessage`` per event, same events.

Run: ``.venv/bin/python tests/benchmarks/bench_push.py [--events N]`` (``make bench`` runs it). It starts a
moto server on loopback in this process and pushes the same generated events (10,000 by default) three ways,
each to its own standard queue, printing events/s and the ratio to the baseline:

- baseline: validate each event, then one ``SendMessage`` call per event (a naive producer);
- publisher: ``EventPublisher.publish`` (validation, ``SendMessageBatch`` of 10, failed entries retried);
- handler: the ingest ``lambda_handler`` on Function URL events of 100 events each (JSON parsing, ids,
  validation, publishing, the HTTP response), called in-process as Lambda would.

Draining as it goes: moto's cost per sent message grows with the queue's depth (it scans every message on
each send), which a real SQS queue does not do. A drainer thread therefore empties the queue's in-memory
store directly every few milliseconds, without HTTP calls of its own, so every mode runs against a queue that
stays near empty and the server spends its time on the producer's calls only. Every drained message is
accounted for: the benchmark checks the drained event ids equal the pushed ones.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import threading
import time
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.events import load_event
from tests.support.sqs import FAKE_CREDENTIALS, REGION, moto_server

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_sqs import SQSClient

MOTO_ACCOUNT_ID: Final = "123456789012"  # moto's default account
EVENTS_PER_REQUEST: Final = 100
DRAIN_INTERVAL_SECONDS: Final = 0.002


@dataclass(frozen=True, slots=True)
class Figure:
    """One mode's run."""

    name: str
    events: int
    seconds: float
    accounted: int

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds


class Drainer:
    """Empties one moto queue's in-memory store while a mode runs, keeping every body it removed."""

    def __init__(self, queue_url: str) -> None:
        from moto.sqs.models import sqs_backends  # noqa: PLC0415 - the in-process server's own state

        self._queue = sqs_backends[MOTO_ACCOUNT_ID][REGION].queues[queue_url.rsplit("/", 1)[-1]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.bodies: list[str] = []

    def __enter__(self) -> Drainer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sweep()

    def _sweep(self) -> None:
        with self._queue._messages_lock:
            taken, self._queue._messages = self._queue._messages, []
        self.bodies.extend(message.body for message in taken)

    def _run(self) -> None:
        while not self._stop.wait(DRAIN_INTERVAL_SECONDS):
            self._sweep()

    def event_ids(self) -> list[str]:
        """The ``event_id`` of every drained message."""
        return [json.loads(body)["event_id"] for body in self.bodies]


def _run(
    modes: list[tuple[str, str, Callable[[str, list[dict[str, Any]]], None]]],
    client: SQSClient,
    events: list[dict[str, Any]],
    rounds: int,
) -> list[Figure]:
    """Push ``events`` with every mode, interleaved in ``rounds`` slices so the modes share the machine's noise."""
    queues = {slug: client.create_queue(QueueName=f"bench-{slug}")["QueueUrl"] for slug, _, _ in modes}
    seconds = dict.fromkeys(queues, 0.0)
    size = -(-len(events) // rounds)
    with ExitStack() as stack:
        drainers = {slug: stack.enter_context(Drainer(url)) for slug, url in queues.items()}
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            for slug, _, push in modes:
                began = time.perf_counter()
                push(queues[slug], chunk)
                seconds[slug] += time.perf_counter() - began
    pushed = sorted(event["event_id"] for event in events)
    figures = []
    for slug, name, _ in modes:
        drained = drainers[slug].event_ids()
        if sorted(drained) != pushed:
            raise SystemExit(f"{name}: drained {len(drained)} messages, not the {len(pushed)} events pushed")
        figures.append(Figure(name, len(events), seconds[slug], len(drained)))
    return figures


def _baseline(client: SQSClient) -> Callable[[str, list[dict[str, Any]]], None]:
    from sluice_shared.catalog import default_registry  # noqa: PLC0415
    from sluice_shared.contract import validate_event  # noqa: PLC0415

    registry = default_registry()

    def push(queue_url: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            body = validate_event(event, registry=registry).to_body()
            client.send_message(QueueUrl=queue_url, MessageBody=body)

    return push


def _publisher(client: SQSClient) -> Callable[[str, list[dict[str, Any]]], None]:
    from sluice_shared.catalog import default_registry  # noqa: PLC0415
    from sluice_shared.publisher import EventPublisher  # noqa: PLC0415
    from sluice_shared.sqs import BatchSender  # noqa: PLC0415

    registry = default_registry()

    def push(queue_url: str, events: list[dict[str, Any]]) -> None:
        receipt = EventPublisher(BatchSender(queue_url, client=client), registry=registry).publish(events)
        if not receipt.ok:
            raise SystemExit(f"publisher: {len(receipt.results) - len(receipt.queued)} events not queued")

    return push


def _handler() -> Callable[[str, list[dict[str, Any]]], None]:
    from sluice_ingest import runtime  # noqa: PLC0415
    from sluice_ingest.handler import lambda_handler  # noqa: PLC0415
    from sluice_ingest.settings import IngestSettings  # noqa: PLC0415

    @dataclass
    class Context:
        function_name: str = "sluice-ingest"
        memory_limit_in_mb: int = 512
        invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sluice-ingest"
        aws_request_id: str = "bench"

    def push(queue_url: str, events: list[dict[str, Any]]) -> None:
        # The client serializes its requests before sending: not timed as the function's work.
        requests = []
        for start in range(0, len(events), EVENTS_PER_REQUEST):
            request = load_event("function_url_post_events")
            request["body"] = json.dumps(events[start : start + EVENTS_PER_REQUEST])
            requests.append(request)
        runtime.configure(IngestSettings(queue_url=queue_url))
        # Powertools prints its EMF metrics to stdout: keep the benchmark's output readable.
        with redirect_stdout(io.StringIO()):
            statuses = [lambda_handler(request, Context())["statusCode"] for request in requests]
        if set(statuses) != {202}:
            raise SystemExit(f"handler: statuses {sorted(set(statuses))}, expected only 202")

    return push


def _report(figures: list[Figure]) -> Iterator[str]:
    baseline = figures[0].rate
    yield f"{'':<50} every event accounted for: " + ", ".join(f"{f.accounted:,}" for f in figures)
    yield f"{'mode':<50} {'events':>7} {'seconds':>8} {'events/s':>9} {'x baseline':>11}"
    for figure in figures:
        yield (
            f"{figure.name:<50} {figure.events:>7} {figure.seconds:>8.1f} {figure.rate:>9,.0f} "
            f"{figure.rate / baseline:>10.1f}x"
        )


def main() -> None:
    """Run the three modes against one moto server and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="events pushed by each mode")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the events are split into")
    args = parser.parse_args()
    os.environ.update(FAKE_CREDENTIALS)
    # The in-process server's request log would drown the figures.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    import boto3  # noqa: PLC0415

    from sluice_cli.generate import generate_events  # noqa: PLC0415

    events = list(generate_events(args.events, seed=2026))
    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL_SQS"] = endpoint  # the ingest handler finds it the standard way
        client = boto3.client("sqs", endpoint_url=endpoint)
        print(
            f"pushing {args.events:,} events per mode to a moto server on loopback, drained as it goes, "
            f"modes interleaved in {args.rounds} rounds",
            flush=True,
        )
        modes = [
            ("baseline", "baseline: SendMessage per event", _baseline(client)),
            ("publisher", "publisher: SendMessageBatch", _publisher(client)),
            ("handler", f"ingest handler: Function URL, {EVENTS_PER_REQUEST} events/request", _handler()),
        ]
        figures = _run(modes, client, events, args.rounds)
    for line in _report(figures):
        print(line)


if __name__ == "__main__":
    main()
