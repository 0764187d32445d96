"""Powertools set-up shared by both functions: structured logger, EMF metrics, and a tracer only when asked.

Logger and metrics are cheap (~50 ms to import, nothing to construct) and are module globals in handlers,
as Powertools recommends. ``Tracer`` costs ~300 ms to import and construct, so it is created on first use
and only when tracing is enabled: a function with tracing off never imports it.

Each function's metrics live in a store of their own (Powertools' ``EphemeralMetrics``): Powertools'
``Metrics`` keeps one store per process, shared by every instance, so two functions hosted in one process
(the local pipeline, ``sluice consume``, tests) would publish or empty each other's metrics. They are published
by :func:`publish_metrics`, which never lets metrics fail the handler it wraps.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, redirect_stdout
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TextIO, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, SchemaValidationError

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

__all__ = [
    "METRICS_NAMESPACE",
    "REDACTED",
    "build_logger",
    "build_metrics",
    "get_tracer",
    "output_to",
    "publish_metrics",
    "publish_now",
    "redact",
    "redact_field_errors",
    "subsegment",
]

METRICS_NAMESPACE: Final = "Sluice"
REDACTED: Final = "***"

_R = TypeVar("_R")
_P = ParamSpec("_P")


def build_logger(service: str) -> Logger:
    """A JSON logger for ``service`` (level from ``POWERTOOLS_LOG_LEVEL``, INFO by default)."""
    return Logger(service=service)


def build_metrics(service: str) -> EphemeralMetrics:
    """EMF metrics in the ``Sluice`` namespace, dimensioned by ``service``, in a store no other instance shares."""
    return EphemeralMetrics(namespace=METRICS_NAMESPACE, service=service)


def publish_metrics(metrics: EphemeralMetrics, *, logger: Logger) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Decorate a handler to publish ``metrics`` after each invocation, as Powertools' ``log_metrics`` does.

    Unlike ``log_metrics``, metrics never fail the handler: an invocation that added none publishes nothing
    (Powertools would warn, an error where warnings are errors); a metric set CloudWatch's EMF schema refuses is
    logged on ``logger`` and dropped, and the handler's answer stands. The store is emptied after every
    invocation, also when ``POWERTOOLS_METRICS_DISABLED`` is set (Powertools then keeps the values and prints
    them anyway once a metric holds 100 of them). The handler's parameters are left untyped, as Powertools'
    decorators leave them: tests and the local hosts pass Lambda-like contexts.
    """

    def decorate(handler: Callable[..., _R]) -> Callable[..., _R]:
        @functools.wraps(handler)
        def invoke(*args: Any, **kwargs: Any) -> _R:
            try:
                return handler(*args, **kwargs)
            finally:
                _flush(metrics, logger)

        return invoke

    return decorate


def publish_now(metrics: EphemeralMetrics, *, logger: Logger) -> None:
    """Publish ``metrics`` at once, as :func:`publish_metrics` does after an invocation (never raises)."""
    _flush(metrics, logger)


def _flush(metrics: EphemeralMetrics, logger: Logger) -> None:
    try:
        if metrics.metric_set:
            metrics.flush_metrics()  # one EMF line on stdout, unless POWERTOOLS_METRICS_DISABLED
    except SchemaValidationError:  # the only error a flush raises (add_metric validates names, units, values)
        logger.exception("metrics not published: CloudWatch EMF would refuse them")
    finally:
        metrics.clear_metrics()


def output_to(handler: Callable[_P, _R], *, service: str, stream: TextIO) -> Callable[_P, _R]:
    """``handler``, whose log lines (``service``'s logger) and printed EMF metrics go to ``stream`` while it runs.

    Powertools binds its log handler to stdout when the logger is built, and metrics are printed: a caller that
    keeps stdout for its own output (``sluice consume`` prints the response there) moves both. The log handler is
    found by the service's name in :mod:`logging`, as Powertools registers it, so no caller needs the handler
    module's ``logger``. Not for concurrent invocations: stdout is the whole process's.
    """

    @functools.wraps(handler)
    def invoke(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        streams = [h for h in logging.getLogger(service).handlers if isinstance(h, logging.StreamHandler)]
        # Swapped without setStream(), which would flush the previous stream (possibly closed by now).
        previous = [log_handler.stream for log_handler in streams]
        for log_handler in streams:
            log_handler.stream = stream
        try:
            with redirect_stdout(stream):
                return handler(*args, **kwargs)
        finally:
            for log_handler, earlier in zip(streams, previous, strict=True):
                log_handler.stream = earlier

    return invoke


@functools.cache
def get_tracer(service: str) -> Tracer:
    """The Powertools tracer for ``service``, created (and imported) on first call only."""
    from aws_lambda_powertools import Tracer  # noqa: PLC0415 - ~300 ms, only when tracing is on

    return Tracer(service=service)


def subsegment(name: str, *, service: str, enabled: bool) -> Any:
    """A context manager tracing ``name`` as an X-Ray subsegment when ``enabled``, else doing nothing."""
    if not enabled:
        return nullcontext()
    return _traced(name, service)


@contextmanager
def _traced(name: str, service: str) -> Iterator[None]:
    with get_tracer(service).provider.in_subsegment(name):
        yield


def redact(value: Any, fields: frozenset[str] | set[str] | tuple[str, ...]) -> Any:
    """A copy of ``value`` with the values of any object key named in ``fields`` replaced by ``***``."""
    if not fields:
        return value
    if isinstance(value, Mapping):
        return {key: REDACTED if key in fields else redact(item, fields) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, fields) for item in value]
    return value


def redact_field_errors(
    error: Mapping[str, Any], fields: frozenset[str] | set[str] | tuple[str, ...]
) -> dict[str, Any]:
    """A copy of an error dict (``code``, ``message``, ``fields: [{field, reason}]``) safe to log.

    A reason about a field named in ``fields`` (any segment of its dotted path) is masked, and so is the
    summary ``message``, which repeats the first reason: a payload model's validator may quote the value it
    refused ("4111... fails the Luhn check").
    """
    copy = dict(error)
    if not fields or not isinstance(error.get("fields"), list):
        return copy
    masked = False
    items: list[Any] = []
    for item in error["fields"]:
        path = str(item.get("field") or "") if isinstance(item, Mapping) else ""
        if any(segment in fields for segment in path.split(".")):
            items.append({**item, "reason": REDACTED})
            masked = True
        else:
            items.append(item)
    copy["fields"] = items
    if masked:
        copy["message"] = REDACTED
    return copy
