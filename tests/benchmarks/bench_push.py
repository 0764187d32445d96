"""Push benchmark: concurrent ``SendMessageBatch`` calls vs one at a time, same events, ratios from one run.

Run: ``.venv/bin/python tests/benchmarks/bench_push.py [--events N] [--rounds R] [--latency-ms MS]`` (``make bench``
runs it). A moto server runs in a child process (its own interpreter, so client and server do not share one
GIL) and the same generated events are pushed several ways, each to its own standard queue:

- baseline: validate each event, then one ``SendMessage`` call per event (a naive producer);
- ``EventPublisher.publish``: one ``SendMessageBatch`` at a time, as the ingest function sends (and as
  ``sluice push`` sent before it streamed): the reference every ratio is given against;
- ``EventPublisher.stream`` with 2, 4 and 8 ``SendMessageBatch`` calls in flight;
- ``sluice push FILE``: the whole command, in this process, reading a JSON Lines file as it sends (4 in flight);
- the ingest ``lambda_handler`` on Function URL events of 100 events each, called in-process as Lambda would.

It runs twice: on plain loopback, where a call costs only the server's CPU (moto is pure Python, so the
server soon becomes the bottleneck), and with ``--latency-ms`` added to every request by the server
(15 ms by default: a round trip to a regional SQS endpoint), which is where calls in flight together pay
off. The modes are interleaved in rounds so they share the machine's noise; each round gives each mode's
speed relative to the one-at-a-time publisher in that round, and the report shows min / median / max.

Draining as it goes: moto's cost per sent message grows with the queue's depth, which a real SQS queue does
not do. The server process empties its queues' in-memory stores every few milliseconds (no HTTP calls), so
every mode pushes to a queue that stays near empty, and reports the event ids it removed: the benchmark
checks they equal the pushed ones, for every mode.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.bench import load_reported
from tests.support.events import load_event
from tests.support.sqs import FAKE_CREDENTIALS, REGION, fast_moto_clock

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.connection import Connection

    from mypy_boto3_sqs import SQSClient

MOTO_ACCOUNT_ID: Final = "123456789012"  # moto's default account
EVENTS_PER_REQUEST: Final = 100
DRAIN_INTERVAL_SECONDS: Final = 0.002
DEFAULT_LATENCY_MS: Final = 15
IN_FLIGHT: Final = (2, 4, 8)
CLI_CONCURRENCY: Final = 4
REFERENCE: Final = "publish"

Push = Callable[[str, list[dict[str, Any]]], None]


# --- the server process: moto, an optional delay per request, and an in-memory drainer ------------------


def _serve(conn: Connection, latency_seconds: float) -> None:
    """Child process: serve moto on loopback, drain every queue continuously, answer ``ids`` and ``stop``."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: PLC0415
    from moto.sqs.models import sqs_backends  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if latency_seconds:
            time.sleep(latency_seconds)  # the network round trip a real endpoint costs; releases the GIL
        return moto_app(environ, start_response)

    bodies: dict[str, list[str]] = {}
    stop = threading.Event()

    def drain() -> None:
        while not stop.wait(DRAIN_INTERVAL_SECONDS):
            for name, queue in list(sqs_backends[MOTO_ACCOUNT_ID][REGION].queues.items()):
                with queue._messages_lock:
                    taken, queue._messages = queue._messages, []
                bodies.setdefault(name, []).extend(message.body for message in taken)

    with fast_moto_clock():
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        conn.send(f"http://127.0.0.1:{server.server_address[1]}")
        while (request := conn.recv()) != "stop":
            time.sleep(DRAIN_INTERVAL_SECONDS * 10)  # let the drainer take the last messages
            conn.send([json.loads(body)["event_id"] for body in bodies.get(request, [])])
        stop.set()
        drainer.join()
        server.shutdown()


@dataclass
class Server:
    """The child process's endpoint, and a way to ask which event ids it drained from a queue."""

    endpoint: str
    _conn: Connection

    def drained_ids(self, queue_name: str) -> list[str]:
        self._conn.send(queue_name)
        ids: list[str] = self._conn.recv()
        return ids


@contextmanager
def sqs_server(latency_ms: float) -> Iterator[Server]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, latency_ms / 1000), daemon=True)
    process.start()
    try:
        yield Server(parent.recv(), parent)
    finally:
        parent.send("stop")
        process.join(timeout=30)
        if process.is_alive():
            process.kill()


# --- the modes ------------------------------------------------------------------------------------------


def _baseline(client: SQSClient) -> Push:
    from sluice_shared.catalog import default_registry  # noqa: PLC0415
    from sluice_shared.contract import validate_event  # noqa: PLC0415

    registry = default_registry()

    def push(queue_url: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            body = validate_event(event, registry=registry).to_body()
            client.send_message(QueueUrl=queue_url, MessageBody=body)

    return push


def _publisher(client: SQSClient, in_flight: int | None) -> Push:
    """``in_flight=None``: ``publish`` (one request at a time); else ``stream`` with that many in flight."""
    from sluice_shared.catalog import default_registry  # noqa: PLC0415
    from sluice_shared.publisher import EventPublisher, EventStatus  # noqa: PLC0415
    from sluice_shared.sqs import BatchSender  # noqa: PLC0415

    registry = default_registry()

    def push(queue_url: str, events: list[dict[str, Any]]) -> None:
        publisher = EventPublisher(BatchSender(queue_url, client=client), registry=registry)
        if in_flight is None:
            results = list(publisher.publish(events).results)
        else:
            results = list(publisher.stream(enumerate(events), max_in_flight=in_flight))
        not_queued = sum(1 for result in results if result.status is not EventStatus.QUEUED)
        if not_queued or len(results) != len(events):
            raise SystemExit(f"publisher: {not_queued} of {len(events)} events not queued")

    return push


class _CliPush:
    """``sluice push FILE`` in this process; the file for each slice of events is written before the clock starts."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self._endpoint = endpoint
        self._workdir = workdir
        self._files: dict[int, Path] = {}

    def prepare(self, events: list[dict[str, Any]]) -> None:
        path = self._workdir / f"events-{len(self._files)}.jsonl"
        path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
        self._files[id(events)] = path

    def __call__(self, queue_url: str, events: list[dict[str, Any]]) -> None:
        from sluice_cli.app import main  # noqa: PLC0415

        argv = ["push", str(self._files[id(events)]), "--queue-url", queue_url, "--endpoint-url", self._endpoint]
        with redirect_stdout(io.StringIO()) as output:
            code = main([*argv, "--concurrency", str(CLI_CONCURRENCY), "--correlation-id", "bench"])
        if code != 0:
            raise SystemExit(f"sluice push exited {code}: {output.getvalue()}")


def _handler(endpoint: str) -> Push:
    from sluice_ingest import runtime  # noqa: PLC0415
    from sluice_ingest.handler import lambda_handler  # noqa: PLC0415
    from sluice_ingest.settings import IngestSettings  # noqa: PLC0415

    @dataclass
    class Context:
        function_name: str = "sluice-ingest"
        memory_limit_in_mb: int = 512
        invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sluice-ingest"
        aws_request_id: str = "bench"

    os.environ["AWS_ENDPOINT_URL_SQS"] = endpoint  # the ingest function finds it the standard way

    def push(queue_url: str, events: list[dict[str, Any]]) -> None:
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


# --- running and reporting ------------------------------------------------------------------------------


@dataclass
class Mode:
    slug: str
    name: str
    push: Push
    prepare: Callable[[list[dict[str, Any]]], None] | None = None
    seconds: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return sum(self.events) / sum(self.seconds)

    def round_rates(self) -> list[float]:
        return [count / seconds for count, seconds in zip(self.events, self.seconds, strict=True)]


def _run(modes: list[Mode], server: Server, client: SQSClient, events: list[dict[str, Any]], rounds: int) -> None:
    queues = {mode.slug: client.create_queue(QueueName=f"bench-{mode.slug}")["QueueUrl"] for mode in modes}
    size = -(-len(events) // rounds)
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        for mode in modes:
            if mode.prepare is not None:
                mode.prepare(chunk)
            began = time.perf_counter()
            mode.push(queues[mode.slug], chunk)
            mode.seconds.append(time.perf_counter() - began)
            mode.events.append(len(chunk))
    pushed = sorted(event["event_id"] for event in events)
    for mode in modes:
        drained = server.drained_ids(f"bench-{mode.slug}")
        if sorted(drained) != pushed:
            raise SystemExit(f"{mode.name}: drained {len(drained)} messages, not the {len(pushed)} events pushed")


def _report(modes: list[Mode]) -> Iterator[str]:
    reference = next(mode for mode in modes if mode.slug == REFERENCE).round_rates()
    yield f"  {'mode':<56} {'events':>7} {'seconds':>8} {'events/s':>9}   x one-at-a-time: min / median / max"
    for mode in modes:
        ratios = [rate / ref for rate, ref in zip(mode.round_rates(), reference, strict=True)]
        spread = f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}"
        yield (
            f"  {mode.name:<56} {sum(mode.events):>7} {sum(mode.seconds):>8.1f} {mode.rate:>9,.0f}   "
            f"{statistics.median(ratios):>5.2f}x  ({spread})"
        )


def _modes(client: SQSClient, server: Server, workdir: Path, *, baseline: bool) -> list[Mode]:
    modes = [Mode("baseline", "baseline: SendMessage per event", _baseline(client))] if baseline else []
    modes.append(Mode(REFERENCE, "publish: 1 SendMessageBatch at a time (ingest; old push)", _publisher(client, None)))
    modes += [Mode(f"stream-{n}", f"stream: {n} SendMessageBatch in flight", _publisher(client, n)) for n in IN_FLIGHT]
    cli = _CliPush(server.endpoint, workdir)
    modes.append(Mode("cli", f"sluice push FILE (streams, --concurrency {CLI_CONCURRENCY})", cli, cli.prepare))
    modes.append(
        Mode("handler", f"ingest handler: Function URL, {EVENTS_PER_REQUEST} events/request", _handler(server.endpoint))
    )
    return modes


def _section(events: list[dict[str, Any]], rounds: int, latency_ms: float, *, baseline: bool) -> None:
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    where = f"{latency_ms:g} ms added to every request" if latency_ms else "plain loopback"
    print(
        f"\n{len(events):,} events per mode to a moto server in its own process ({where}), drained as it goes, "
        f"modes interleaved in {rounds} rounds",
        flush=True,
    )
    with sqs_server(latency_ms) as server, tempfile.TemporaryDirectory() as workdir:
        client = boto3.client("sqs", endpoint_url=server.endpoint, config=Config(max_pool_connections=max(IN_FLIGHT)))
        modes = _modes(client, server, Path(workdir), baseline=baseline)
        _run(modes, server, client, events, rounds)
    for line in _report(modes):
        print(line)
    print("  every event accounted for in every mode (drained ids == pushed ids)")


def main() -> None:
    """Push the same events every way, on loopback and with a round-trip delay, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="events pushed by each mode on plain loopback")
    parser.add_argument("--latency-events", type=int, default=4_000, help="events per mode with the added latency")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds the events are split into")
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS, help="delay added to each request")
    args = parser.parse_args()
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from sluice_cli.generate import generate_events  # noqa: PLC0415

    events = list(generate_events(max(args.events, args.latency_events), seed=2026))
    _section(events[: args.events], args.rounds, 0, baseline=True)
    # SendMessage per event would take events x latency: left out where latency is added.
    _section(events[: args.latency_events], args.rounds, args.latency_ms, baseline=False)


if __name__ == "__main__":
    with load_reported():
        main()
