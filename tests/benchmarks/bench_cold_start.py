"""Cold-start benchmark: the consumer handler's first invocation in a fresh interpreter, lazy vs eager imports.

Run: ``make bench`` or ``[SLUICE_TEST_DATABASE_URL=postgresql://...] .venv/bin/python
tests/benchmarks/bench_cold_start.py`` (``make bench`` runs it). In one run, alternating, fresh interpreters:

- lazy (Sluice as shipped): import ``sluice_consumer.handler`` and handle a first one-message batch (pool
  opened, row written);
- eager (the usual style): first import boto3 and create the SQS and Secrets Manager clients, import and
  construct Powertools Logger, Metrics and Tracer, import Powertools' batch utility, pydantic, psycopg and
  psycopg_pool; then the same import and first batch.

Each figure is the median over repetitions of the time from the child's first line to the handler's
response (interpreter start-up, the same for both, is printed separately), with ``.pyc`` files warm as a
deployment ships them. The target is lazy <= 0.6 x eager.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from sluice_consumer.migrations import apply_migrations
from sluice_shared.environment import DATABASE_URL

# Run as a script from anywhere: the repository root makes the tests' own helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.bench import load_reported
from tests.support.postgres import DatabaseFactory, benchmark_server

REPETITIONS: Final = 9

EAGER_PRELUDE: Final = """
import boto3
boto3.client("sqs")
boto3.client("secretsmanager")
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
Logger(service="eager"); Metrics(namespace="Eager", service="eager"); Tracer(service="eager")
import pydantic, psycopg, psycopg_pool
"""

# The child times itself from its first line to the handler's response and prints one JSON line.
CHILD: Final = """
import time
_started = time.perf_counter()
{prelude}
import json, uuid
from sluice_consumer.handler import lambda_handler
from sluice_cli.context import LocalContext
body = json.dumps({{"event_id": str(uuid.uuid4()), "event_type": "order.cancelled", "source": "bench",
    "occurred_at": "2026-11-26T12:00:00+00:00", "payload": {{"order_id": "o-1", "reason": "cold"}}}})
event = {{"Records": [{{"messageId": "m0", "body": body, "attributes": {{"ApproximateReceiveCount": "1"}},
    "messageAttributes": {{}}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:bench"}}]}}
response = lambda_handler(event, LocalContext())
elapsed = time.perf_counter() - _started
assert response == {{"batchItemFailures": []}}, response
print("BENCH " + json.dumps({{"elapsed": elapsed}}))
"""


def run_child(prelude: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from the child's first line to the response, and the whole process's wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(prelude=prelude)], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    lines = [line for line in result.stdout.splitlines() if line.startswith("BENCH ")]
    if result.returncode != 0 or not lines:
        sys.exit(f"child failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return float(json.loads(lines[-1].removeprefix("BENCH "))["elapsed"]), wall


def interpreter_startup(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    with benchmark_server() as server:
        measure_cold_start(server)


def measure_cold_start(server: str) -> None:
    """Run the measurements in a throwaway database on ``server`` and print them."""
    databases = DatabaseFactory(server, prefix="sluice_bench")
    url = databases.create()
    env = {
        **os.environ,
        DATABASE_URL: url,
        # Fake credentials and a region: the eager variant creates clients (no call is made).
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "Sluice",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here; the Tracer is still imported and built
    }
    try:
        apply_migrations(url)
        variants = {"lazy": "", "eager": EAGER_PRELUDE}
        for prelude in variants.values():  # warm the .pyc files, as a deployment package ships them
            run_child(prelude, env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        startup = []
        for _ in range(REPETITIONS):
            startup.append(interpreter_startup(env))
            for variant, prelude in variants.items():
                samples[variant].append(run_child(prelude, env))
        lazy = statistics.median(elapsed for elapsed, _ in samples["lazy"])
        eager = statistics.median(elapsed for elapsed, _ in samples["eager"])
        lazy_wall = statistics.median(wall for _, wall in samples["lazy"])
        eager_wall = statistics.median(wall for _, wall in samples["eager"])
        print(f"cold start: import + first one-message batch, median of {REPETITIONS} fresh interpreters")
        print(f"  lazy  (Sluice as shipped): {lazy * 1000:7.0f} ms   (whole process {lazy_wall * 1000:5.0f} ms)")
        print(f"  eager (usual imports)    : {eager * 1000:7.0f} ms   (whole process {eager_wall * 1000:5.0f} ms)")
        print(f"  interpreter start-up     : {statistics.median(startup) * 1000:7.0f} ms")
        print(f"  ratio lazy / eager       : {lazy / eager:7.2f}   (whole process {lazy_wall / eager_wall:.2f})")
    finally:
        databases.cleanup()


if __name__ == "__main__":
    with load_reported():
        main()
