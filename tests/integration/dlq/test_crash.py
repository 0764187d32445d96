"""Crash injection: ``sluice dlq replay`` killed with SIGKILL mid-way, then rerun, never loses a message.

The replay runs in a subprocess against the moto server. One test kills it at random moments (a slow
``--rate`` makes the kills land while messages are being moved); the other kills it exactly between a
confirmed send and the delete from the DLQ, through a test-level wrapper (``crash_replay.py``). After each
kill the killed run's hidden messages are let reappear and the replay reruns until the DLQ is empty; then every
original event id must be in the source queue. Duplicates are allowed (writes are idempotent on ``event_id``) and
counted. A killed run's hidden messages reappear when SQS's clock is moved past the visibility timeout
(``sqs_clock``: the moto server runs in this process), not after a sleep: nothing else is receiving then.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.factories import event_body

if TYPE_CHECKING:
    from tests.integration.dlq.conftest import Queues
    from tests.support.sqs import SqsClock

SLUICE = str(Path(sys.executable).with_name("sluice"))
CRASH_REPLAY = str(Path(__file__).with_name("crash_replay.py"))
VISIBILITY_TIMEOUT = 2  # seconds a killed run's in-flight messages stay hidden
# The replay raises it to what its rate needs to move a burst: ceil(2 x 10 / rate) + 1 s, 3 s at 10/s.
LONGEST_HIDDEN_SECONDS = 3
MESSAGES = 80
MAX_RUNS = 40  # bounds the test: kills plus the reruns that finish the job
# Messages a second: unharmed runs; runs killed at a random moment of their first 1.5 s of moving (after the first
# burst of 10, 70 messages take 3.5 s); runs interrupted 0.5 s after their second batch (6 s left): wide margins
# on a loaded machine.
RATE = 40
KILLED_RATE = 20
INTERRUPTED_RATE = 10
BATCH = 10  # messages per receive, send and delete
START_LIMIT_SECONDS = 60  # for the CLI to start and move its first messages, on a loaded machine too


def _environment(sqs_endpoint: str) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": sqs_endpoint}


# Runs a command with SIGINT at its default, as a terminal's foreground job has it: a test run started in the
# background (`make test &`, some CI runners) ignores SIGINT, every child inherits that, and Python then never
# raises KeyboardInterrupt. exec keeps the default in place.
AS_IN_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
]


def _replay_args(queues: Queues, *, rate: int = RATE) -> list[str]:
    return ["dlq", "replay", "-q", queues.dlq_url, "--rate", str(rate), "--visibility-timeout", str(VISIBILITY_TIMEOUT)]


def _finish(queues: Queues, sqs_endpoint: str, sqs_clock: SqsClock, runs: int) -> int:
    """Rerun the replay, unharmed, until the DLQ is empty; return how many runs it took in all."""
    while queues.depth(queues.dlq_url) and runs < MAX_RUNS:
        sqs_clock.advance(LONGEST_HIDDEN_SECONDS)  # a killed run's in-flight messages reappear
        subprocess.run(
            [SLUICE, *_replay_args(queues)], env=_environment(sqs_endpoint), capture_output=True, check=False
        )
        runs += 1
    assert queues.depth(queues.dlq_url) == 0, f"DLQ not empty after {runs} runs"
    return runs


def _assert_nothing_lost(queues: Queues, originals: list[str]) -> Counter[str]:
    arrived = Counter(json.loads(message["Body"])["event_id"] for message in queues.drain(queues.source_url))
    expected = {json.loads(body)["event_id"] for body in originals}
    assert set(arrived) == expected, f"lost: {sorted(expected - set(arrived))[:5]}"
    return arrived


def _start_replay(queues: Queues, sqs_endpoint: str, *, rate: int, moved: int = 1) -> subprocess.Popen[str]:
    """Start ``sluice dlq replay`` and return once it has moved ``moved`` messages (or ended).

    Waiting for a move (sent and deleted), not a mere receive, puts what follows inside the replay's moving phase
    however slowly a loaded machine starts the CLI: the rate limit then leaves more than a second and a half of
    moving to do (see the rates above).
    """
    before = queues.depth(queues.dlq_url)
    process = subprocess.Popen(
        [*AS_IN_A_TERMINAL, SLUICE, *_replay_args(queues, rate=rate)],
        env=_environment(sqs_endpoint),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + START_LIMIT_SECONDS
    while queues.depth(queues.dlq_url) > before - moved and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return process


def test_replay_killed_at_random_moments_loses_nothing(queues: Queues, sqs_endpoint: str, sqs_clock: SqsClock) -> None:
    # given
    originals = [event_body() for _ in range(MESSAGES)]
    queues.dead_letter(originals)
    rng = random.Random(20261126)

    # when: four runs, each killed at a random moment once it has started moving messages; then reruns
    interrupted = 0
    for _ in range(4):
        before = queues.depth(queues.dlq_url)
        process = _start_replay(queues, sqs_endpoint, rate=KILLED_RATE)
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        after = queues.depth(queues.dlq_url)
        interrupted += 0 < before - after < before  # it had moved some, not all, when it died
        sqs_clock.advance(LONGEST_HIDDEN_SECONDS)
    runs = _finish(queues, sqs_endpoint, sqs_clock, runs=4)

    # then
    arrived = _assert_nothing_lost(queues, originals)
    assert interrupted >= 2, f"only {interrupted} of 4 kills landed mid-way"
    assert sum(arrived.values()) >= MESSAGES
    assert runs < MAX_RUNS


def test_replay_killed_between_a_confirmed_send_and_the_delete_loses_nothing(
    queues: Queues, sqs_endpoint: str, sqs_clock: SqsClock
) -> None:
    # given
    originals = [event_body() for _ in range(MESSAGES)]
    queues.dead_letter(originals)
    rng = random.Random(5)

    # when: three runs each killed just before a random delete, then rerun until done
    announced = []
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, CRASH_REPLAY, str(rng.randint(1, 4)), "--", *_replay_args(queues)],
            env=_environment(sqs_endpoint),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == -signal.SIGKILL, result.stderr
        announced.append(result.stdout.strip())
        sqs_clock.advance(LONGEST_HIDDEN_SECONDS)
    _finish(queues, sqs_endpoint, sqs_clock, runs=3)

    # then: nothing lost; each kill left its sent-but-undeleted chunk to be sent again
    arrived = _assert_nothing_lost(queues, originals)
    duplicates = sum(arrived.values()) - MESSAGES
    killed_chunks = [int(line.split(" of ")[1].split()[0]) for line in announced]
    assert duplicates == sum(killed_chunks), announced


def test_ctrl_c_mid_replay_summarizes_and_loses_nothing(queues: Queues, sqs_endpoint: str, sqs_clock: SqsClock) -> None:
    # given
    originals = [event_body() for _ in range(MESSAGES)]
    queues.dead_letter(originals)

    # when: interrupted (SIGINT, as Ctrl-C) once it has started moving messages
    # (past the first receive batch of 10: its delete has returned to the CLI and is counted, however slowly)
    process = _start_replay(queues, sqs_endpoint, rate=INTERRUPTED_RATE, moved=BATCH + 1)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)

    # then: exit 130 with a summary of what was done
    assert process.returncode == 130, stderr
    summary = next(line for line in stderr.splitlines() if line.startswith("interrupted: replayed "))
    replayed = int(summary.removeprefix("interrupted: replayed ").split(",")[0])
    assert 0 < replayed < MESSAGES
    _finish(queues, sqs_endpoint, sqs_clock, runs=1)
    _assert_nothing_lost(queues, originals)
