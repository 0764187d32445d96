"""The demo's reading of ingest answers and its summary arithmetic."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sluice_cli.app import main
from sluice_local import commands
from sluice_local.commands import STOPPED, _StopSignals
from sluice_local.demo import DemoReport
from sluice_local.ingest_client import RequestOutcome, request_outcome


def _answer(*statuses: str) -> bytes:
    results = [{"index": i, "event_id": f"e-{i}", "status": status} for i, status in enumerate(statuses)]
    return json.dumps({"queued": statuses.count("queued"), "results": results}).encode()


def test_each_result_says_whether_its_event_was_queued_rejected_or_failed():
    outcome = request_outcome(207, _answer("queued", "rejected", "queued", "failed"), 4)

    assert outcome == RequestOutcome(207, queued=((0, "e-0"), (2, "e-2")), rejected=(1,), failed=(3,))


def test_an_error_without_results_rejects_every_event_of_the_request():
    answer = b'{"error": {"code": "too_many_events", "message": "..."}}'

    assert request_outcome(413, answer, 3) == RequestOutcome(413, queued=(), rejected=(0, 1, 2), failed=())


def test_a_server_error_without_results_queued_nothing():
    assert request_outcome(503, b"{}", 2) == RequestOutcome(503, queued=(), rejected=(), failed=(0, 1))


def test_report_arithmetic():
    report = DemoReport(sent=10, accepted=8, rejected=2, distinct_accepted=7, stored=7, seconds=2.0)
    report.latencies_ms = [float(ms) for ms in range(1, 101)]

    assert report.duplicates_skipped == 1
    assert report.throughput == 3.5
    assert report.percentiles() == {50: 50.5, 90: 90.1, 99: 99.01}
    assert report.reconciled


def test_a_report_with_a_problem_does_not_reconcile():
    report = DemoReport(problems=["3 accepted events are neither stored nor in the DLQ"])

    assert not report.reconciled


def test_a_signal_during_start_up_interrupts_it():
    signals = _StopSignals()

    with pytest.raises(KeyboardInterrupt):
        signals.handle(2, None)


def test_a_signal_once_running_requests_a_graceful_stop_and_a_second_one_interrupts():
    signals = _StopSignals()
    signals.arm()

    signals.handle(15, None)

    assert signals.requested.is_set()
    with pytest.raises(KeyboardInterrupt):
        signals.handle(2, None)


class _FakePipeline:
    """Stands in for LocalPipeline in the demo command: nothing starts, the report is scripted."""

    database_kind = "fake"
    ingest_url = "http://127.0.0.1:1"
    stopped = False

    def __init__(self, _config: Any) -> None:
        pass

    def __enter__(self) -> _FakePipeline:
        return self

    def __exit__(self, *_: object) -> None:
        _FakePipeline.stopped = True


def test_demo_reads_end_to_end_speed_as_the_emulators_and_the_handler_speed_as_the_consumers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: a run that stored 100 events in 2 s, while the warm handler took 12,000 records a second
    report = DemoReport(sent=100, requests=2, accepted=100, distinct_accepted=100, stored=100, seconds=2.0)
    report.handler_records, report.handler_batches, report.handler_seconds = 120, 12, 0.31
    report.handler_rate = 12_000.0
    report.latencies_ms = [10.0, 20.0]
    monkeypatch.setattr(commands, "LocalPipeline", _FakePipeline)
    monkeypatch.setattr(commands, "run_demo", lambda *_, **__: report)

    # when
    code = main(["local", "demo", "--events", "3"])

    # then
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert code == 0
    rows = {line.split()[0]: re.sub(r"\s+", " ", line.strip()) for line in lines if line.startswith("  ")}
    assert rows["throughput"] == (
        "throughput 50/s stored, 2.0 s to a drained queue: the pace of the local SQS emulator (moto), not Sluice's"
    )
    assert rows["consumer"] == (
        "consumer handler 12,000/s records/s inside the consumer handler once warm, this run: 120 records in "
        "12 batches of ~10, 0.31 s (per-batch costs weigh at this size; make bench measures large batches)"
    )
    assert _FakePipeline.stopped
    assert captured.err.splitlines()[-1] == STOPPED
