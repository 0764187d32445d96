from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sluice_shared.observability import (
    METRICS_NAMESPACE,
    REDACTED,
    build_logger,
    build_metrics,
    publish_metrics,
    redact,
    redact_field_errors,
    subsegment,
)
from tests.support.emf import emf_documents, published_metrics

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.metrics import EphemeralMetrics

# A fresh interpreter shows what a cold start really imports.
_IMPORTS_AFTER_A_SUBSEGMENT = textwrap.dedent(
    """
    import sys
    from sluice_shared.observability import subsegment
    with subsegment("work", service="test", enabled={enabled}):
        pass
    # Powertools' package imports its (cheap) tracer module; the X-Ray SDK behind it is the cost.
    print(sorted(m for m in ("aws_xray_sdk", "aws_xray_sdk.core") if m in sys.modules))
    """
)


def _modules_imported(*, enabled: bool) -> str:
    code = _IMPORTS_AFTER_A_SUBSEGMENT.format(enabled=enabled)
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_tracing_off_never_imports_the_xray_sdk() -> None:
    assert _modules_imported(enabled=False) == "[]"


def test_tracing_on_imports_the_tracer_and_traces_without_failing_outside_lambda() -> None:
    assert _modules_imported(enabled=True) == "['aws_xray_sdk', 'aws_xray_sdk.core']"


def test_the_tracer_of_a_service_is_built_once_for_every_invocation() -> None:
    # In a fresh interpreter: building a Tracer imports the X-Ray SDK.
    code = "from sluice_shared.observability import get_tracer; print(get_tracer('a') is get_tracer('a'))"
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)

    assert done.stdout.strip() == "True"


def test_disabled_subsegment_is_a_no_op_context() -> None:
    with subsegment("work", service="test", enabled=False) as value:
        assert value is None


def test_redact_masks_named_fields_at_any_depth_and_leaves_the_input_alone() -> None:
    payload = {"email": "a@b.c", "lines": [{"card": "4111", "sku": "x"}], "note": "keep"}

    masked = redact(payload, {"email", "card"})

    assert masked == {"email": REDACTED, "lines": [{"card": REDACTED, "sku": "x"}], "note": "keep"}
    assert payload["email"] == "a@b.c"


def test_reasons_about_redacted_fields_and_the_summary_are_masked_for_logs() -> None:
    error: dict[str, Any] = {
        "code": "invalid_message",
        "message": "payload.card.number: 4111 fails the Luhn check (and 1 more)",
        "fields": [
            {"field": "payload.card.number", "reason": "4111 fails the Luhn check"},
            {"field": "payload.amount", "reason": "Input should be a valid integer"},
        ],
    }

    logged = redact_field_errors(error, {"number"})

    assert logged == {
        "code": "invalid_message",
        "message": REDACTED,
        "fields": [
            {"field": "payload.card.number", "reason": REDACTED},
            {"field": "payload.amount", "reason": "Input should be a valid integer"},
        ],
    }
    assert error["message"].startswith("payload.card.number: 4111")


def test_errors_about_other_fields_are_logged_as_they_are() -> None:
    error = {"code": "invalid_message", "message": "m", "fields": [{"field": "payload.amount", "reason": "r"}]}

    assert redact_field_errors(error, {"number"}) == error
    assert redact_field_errors(error, ()) == error


# --- metrics ---------------------------------------------------------------------------------------------------

Handler = Callable[[dict[str, Any], Any], Any]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """What the test functions' loggers write (Powertools bound their handler to the stdout of import time)."""
    stream = io.StringIO()
    handler: Any = build_logger("function-a").registered_handler
    previous, handler.stream = handler.stream, stream
    yield stream
    handler.stream = previous


def function(service: str, body: Callable[[EphemeralMetrics], Any]) -> tuple[Handler, EphemeralMetrics]:
    """A handler of its own function, wired as the Lambda handlers are: ``body`` runs with its metrics."""
    metrics = build_metrics(service)
    logger: Logger = build_logger(service)

    @publish_metrics(metrics, logger=logger)
    def handler(event: dict[str, Any], context: Any) -> Any:
        return body(metrics)

    return handler, metrics


def test_powertools_metrics_instances_share_one_store_which_is_why_each_function_has_its_own() -> None:
    # Powertools' Metrics keeps its store in class attributes (documented); build_metrics does not use it.
    assert Metrics(namespace="A", service="a").metric_set is Metrics(namespace="B", service="b").metric_set
    assert build_metrics("a").metric_set is not build_metrics("b").metric_set


def test_two_functions_interleaved_in_one_process_each_publish_exactly_their_own_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given function B, and function A which adds a metric, lets a whole B invocation run, then adds another
    invoke_b, _ = function("function-b", lambda m: m.add_metric(name="Consumed", unit=MetricUnit.Count, value=7))

    def a_body(metrics: EphemeralMetrics) -> str:
        metrics.add_metric(name="Queued", unit=MetricUnit.Count, value=1)
        invoke_b({}, None)  # B adds, publishes and empties its store while A is half-way
        metrics.add_metric(name="Rejected", unit=MetricUnit.Count, value=2)
        return "answer of A"

    invoke_a, metrics_a = function("function-a", a_body)

    # when
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under pytest's filterwarnings, and whatever the caller's settings
        answer = invoke_a({}, None)

    # then B's document holds B's metric only, A's holds both of A's, and both stores are empty again
    assert answer == "answer of A"
    stdout = capsys.readouterr().out
    assert published_metrics(stdout) == [
        ("function-b", {"Consumed": [7.0]}),
        ("function-a", {"Queued": [1.0], "Rejected": [2.0]}),
    ]
    assert {document["_aws"]["CloudWatchMetrics"][0]["Namespace"] for document in emf_documents(stdout)} == {
        METRICS_NAMESPACE
    }
    assert metrics_a.metric_set == {}


def test_an_invocation_that_added_no_metric_publishes_nothing_and_does_not_warn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    invoke, _ = function("function-a", lambda _: "done")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Powertools' log_metrics warns "No application metrics to publish"
        assert invoke({}, None) == "done"

    assert emf_documents(capsys.readouterr().out) == []


def test_a_failing_invocation_publishes_the_metrics_it_added_and_its_error_propagates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def body(metrics: EphemeralMetrics) -> None:
        metrics.add_metric(name="Attempted", unit=MetricUnit.Count, value=1)
        raise LookupError("the handler's own error")

    invoke, metrics = function("function-a", body)

    with pytest.raises(LookupError, match="the handler's own error"):
        invoke({}, None)

    assert published_metrics(capsys.readouterr().out) == [("function-a", {"Attempted": [1.0]})]
    assert metrics.metric_set == {}


def test_metrics_refused_by_the_emf_schema_are_logged_and_the_answer_stands(
    capsys: pytest.CaptureFixture[str], log_stream: io.StringIO
) -> None:
    def body(metrics: EphemeralMetrics) -> str:
        # 29 dimensions is CloudWatch's limit: the service dimension added when publishing is one too many.
        for index in range(29):
            metrics.add_dimension(name=f"d{index}", value="x")
        metrics.add_metric(name="Queued", unit=MetricUnit.Count, value=1)
        return "answer"

    invoke, metrics = function("function-a", body)

    assert invoke({}, None) == "answer"

    assert emf_documents(capsys.readouterr().out) == []
    [log] = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert (log["level"], log["message"]) == ("ERROR", "metrics not published: CloudWatch EMF would refuse them")
    assert "SchemaValidationError" in log["exception_name"]
    assert (metrics.metric_set, metrics.dimension_set) == ({}, {})


def test_disabled_metrics_are_dropped_after_each_invocation_and_never_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Powertools alone keeps disabled metrics and prints them once a metric holds 100 values.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    invoke, metrics = function("function-a", lambda m: m.add_metric(name="Queued", unit=MetricUnit.Count, value=1))

    for _ in range(150):
        invoke({}, None)

    assert metrics.metric_set == {}
    assert emf_documents(capsys.readouterr().out) == []
