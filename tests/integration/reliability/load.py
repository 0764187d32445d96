"""Load through the consumer handler: Lambda-shaped SQS batches, redelivered until settled, reconciled exactly.

Drives ``sluice_consumer.handler.lambda_handler`` directly (the local pipeline's moto endpoint cannot hold a deep
backlog: a 10,000-message one did not drain in 10 minutes on the 2-core development machine), with records built
from AWS's documented SQS event sample, one batch at a time as one Lambda execution environment receives them.
Messages reported in ``batchItemFailures`` are delivered again later with a higher ``ApproximateReceiveCount``
(SQS's redelivery), and moved aside after ``max_receive_count`` receives (SQS's redrive). Peak RSS is sampled
during every batch. Used by ``tests/benchmarks/bench_load.py`` (100,000 events) and
``tests/integration/reliability/test_load.py`` (a small version).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import psycopg

from sluice_cli.context import LocalContext
from sluice_consumer.handler import lambda_handler
from sluice_shared.contract import parse_message
from sluice_shared.errors import InvalidMessageError
from tests.support.events import load_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sluice_shared.registry import PayloadRegistry

__all__ = ["BatchFigure", "LoadRun", "RssSampler", "expected_outcome", "run_load"]

PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE")
MIB: Final = 1024 * 1024
SAMPLE_EVERY_SECONDS: Final = 0.002
LAMBDA_TIMEOUT_SECONDS: Final = 900.0  # Lambda's maximum: the load run measures memory, not deadlines
QUEUE_ARN: Final = "arn:aws:sqs:us-east-1:000000000000:sluice-load"


def current_rss() -> int:
    """This process's resident set size in bytes (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:  # noqa: PTH123 - a proc file read once per sample
        return int(statm.read().split()[1]) * PAGE_SIZE


class RssSampler:
    """Samples RSS in a daemon thread; :meth:`peak_since_mark` is the highest value since the last mark."""

    def __init__(self) -> None:
        self._peak = current_rss()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_SECONDS):
            rss = current_rss()
            with self._lock:
                self._peak = max(self._peak, rss)

    def mark(self) -> None:
        """Start a new measurement window."""
        with self._lock:
            self._peak = current_rss()

    def peak_since_mark(self) -> int:
        """The highest RSS sampled since :meth:`mark` (and now)."""
        rss = current_rss()
        with self._lock:
            return max(self._peak, rss)


@dataclass(frozen=True, slots=True)
class BatchFigure:
    """One invocation: its size, duration, peak RSS while it ran, and how many messages it reported failed."""

    number: int
    size: int
    seconds: float
    peak_rss: int
    retried: int


@dataclass(slots=True)
class _Message:
    message_id: str
    body: str
    receive_count: int = 1


@dataclass
class LoadRun:
    """What happened: every batch's figures, and the messages moved aside after too many receives."""

    batches: list[BatchFigure] = field(default_factory=list)
    redriven: list[str] = field(default_factory=list)
    deliveries: int = 0

    @property
    def seconds(self) -> float:
        return sum(figure.seconds for figure in self.batches)

    def growth(self, *, warm_up: int) -> int:
        """Peak RSS of the last batch minus that of batch ``warm_up`` (bytes): what the run kept growing by."""
        return self.batches[-1].peak_rss - self.batches[warm_up - 1].peak_rss


def _record(template: dict[str, Any], message: _Message) -> dict[str, Any]:
    record = copy.deepcopy(template)
    record["messageId"] = message.message_id
    record["body"] = message.body
    record["md5OfBody"] = ""  # not checked by the consumer; computing it would only add to the driver's cost
    record["eventSourceARN"] = QUEUE_ARN
    record["attributes"]["ApproximateReceiveCount"] = str(message.receive_count)
    record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000))
    return record


def run_load(
    bodies: Iterable[str],
    *,
    batch_size: int,
    max_receive_count: int = 5,
    on_batch: Callable[[BatchFigure], None] | None = None,
) -> LoadRun:
    """Deliver every body through the handler in batches of ``batch_size`` until each one settled."""
    template = load_event("sqs_standard")["Records"][0]
    pending = deque(_Message(str(uuid.uuid4()), body) for body in bodies)
    run = LoadRun()
    with RssSampler() as sampler:
        while pending:
            batch = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
            event = {"Records": [_record(template, message) for message in batch]}
            sampler.mark()
            started = time.perf_counter()
            response = lambda_handler(event, LocalContext(timeout_s=LAMBDA_TIMEOUT_SECONDS))
            seconds = time.perf_counter() - started
            del event
            failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
            for message in batch:
                if message.message_id not in failed:
                    continue
                message.receive_count += 1
                if message.receive_count > max_receive_count:
                    run.redriven.append(message.body)
                else:
                    pending.append(message)  # back after the visibility timeout, behind what is queued
            run.deliveries += len(batch)
            figure = BatchFigure(len(run.batches) + 1, len(batch), seconds, sampler.peak_since_mark(), len(failed))
            run.batches.append(figure)
            if on_batch is not None:
                on_batch(figure)
    return run


@dataclass(frozen=True)
class Expected:
    """What must be stored and dead-lettered, from the contract's own verdict on each body."""

    stored: frozenset[str]
    dead_lettered: int
    duplicates: int


def expected_outcome(bodies: Iterable[str], *, registry: PayloadRegistry) -> Expected:
    """Valid event ids (each stored once), the number of invalid bodies, and how many repeat an earlier id.

    ``registry`` must be the consumer's: payload models reject what the envelope alone accepts.
    """
    valid: Counter[str] = Counter()
    invalid = 0
    for body in bodies:
        try:
            valid[str(parse_message(body, registry=registry).event_id)] += 1
        except InvalidMessageError:
            invalid += 1
    return Expected(frozenset(valid), invalid, sum(valid.values()) - len(valid))


def stored_event_ids(database_url: str) -> Counter[str]:
    """Rows per event id in ``events``."""
    with psycopg.connect(database_url) as conn:
        return Counter(str(event_id) for (event_id,) in conn.execute("SELECT event_id FROM events"))


def bodies_of(events: Iterable[Any]) -> list[str]:
    """JSON bodies, as a producer bypassing ingest sends them."""
    return [json.dumps(event) for event in events]
