"""The demo's reading of ingest answers and its summary arithmetic."""

from __future__ import annotations

import json

import pytest

from sluice_cli.local.commands import _StopSignals
from sluice_cli.local.demo import DemoReport, RequestOutcome, request_outcome


def test_a_success_without_rejections_accepts_every_event():
    assert request_outcome(202, b'{"accepted": 3}', 3) == RequestOutcome(202, accepted=(0, 1, 2), rejected=())


def test_an_error_status_rejects_every_event_of_the_request():
    assert request_outcome(422, b'{"message": "invalid"}', 3) == RequestOutcome(422, accepted=(), rejected=(0, 1, 2))


def test_a_multi_status_answer_names_the_rejected_positions():
    outcome = request_outcome(207, json.dumps({"rejected": [{"index": 1}, {"index": 3}]}).encode(), 4)

    assert outcome == RequestOutcome(207, accepted=(0, 2), rejected=(1, 3))


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
