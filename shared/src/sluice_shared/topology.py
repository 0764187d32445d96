"""How the source queue, its dead-letter queue and the consumer's event source fit together.

One definition serves the CDK stack and the local pipeline (``sluice local up``), so what runs on a laptop
is configured like what runs in AWS. The rules enforced here are AWS's own recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sluice_shared.errors import ConfigurationError
from sluice_shared.limits import (
    LAMBDA_MAX_TIMEOUT_SECONDS,
    SQS_MAX_BATCH_SIZE_FIFO,
    SQS_MAX_BATCH_SIZE_STANDARD,
    SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW,
    SQS_MAX_BATCHING_WINDOW_SECONDS,
    SQS_MAX_RETENTION_SECONDS,
    SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
)

__all__ = [
    "DEFAULT_TOPOLOGY",
    "DLQ_RETENTION_SECONDS",
    "MAX_RECEIVE_COUNT_MINIMUM",
    "VISIBILITY_TIMEOUT_FACTOR",
    "QueueTopology",
]

# AWS: "set the source queue's visibility timeout to at least six times the timeout that you configure
# on your function", plus the batching window, so a batch being retried by Lambda is not redelivered.
VISIBILITY_TIMEOUT_FACTOR: Final = 6
# AWS recommends maxReceiveCount of at least 5 so throttled invocations do not dead-letter good messages.
MAX_RECEIVE_COUNT_MINIMUM: Final = 5
# The DLQ keeps messages as long as SQS allows (14 days), so nothing is lost before someone looks.
DLQ_RETENTION_SECONDS: Final = SQS_MAX_RETENTION_SECONDS


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueTopology:
    """Queue, DLQ and event-source settings; :meth:`validate` enforces AWS's rules with a clear error."""

    consumer_timeout_seconds: int = 60
    batch_size: int = 100
    batching_window_seconds: int = 2
    max_receive_count: int = MAX_RECEIVE_COUNT_MINIMUM
    visibility_timeout_seconds: int | None = None  # None: the minimum the rules allow
    dlq_retention_seconds: int = DLQ_RETENTION_SECONDS
    fifo: bool = False

    @property
    def minimum_visibility_timeout_seconds(self) -> int:
        """Six times the consumer timeout plus the batching window."""
        return VISIBILITY_TIMEOUT_FACTOR * self.consumer_timeout_seconds + self.batching_window_seconds

    @property
    def effective_visibility_timeout_seconds(self) -> int:
        """The configured visibility timeout, or the minimum when none is configured."""
        return self.visibility_timeout_seconds or self.minimum_visibility_timeout_seconds

    def validate(self) -> QueueTopology:
        """Return ``self`` when every rule holds.

        Raises:
            ConfigurationError: naming the broken rule and the values involved.
        """
        problems: list[str] = []
        if not 1 <= self.consumer_timeout_seconds <= LAMBDA_MAX_TIMEOUT_SECONDS:
            problems.append(f"consumer timeout must be 1..{LAMBDA_MAX_TIMEOUT_SECONDS} s")
        if not 0 <= self.batching_window_seconds <= SQS_MAX_BATCHING_WINDOW_SECONDS:
            problems.append(f"batching window must be 0..{SQS_MAX_BATCHING_WINDOW_SECONDS} s")
        max_batch = SQS_MAX_BATCH_SIZE_FIFO if self.fifo else SQS_MAX_BATCH_SIZE_STANDARD
        if self.batching_window_seconds == 0 and not self.fifo:
            max_batch = SQS_MAX_BATCH_SIZE_WITHOUT_WINDOW
        if not 1 <= self.batch_size <= max_batch:
            problems.append(f"batch size must be 1..{max_batch} for this queue type and batching window")
        if self.max_receive_count < MAX_RECEIVE_COUNT_MINIMUM:
            problems.append(f"maxReceiveCount must be at least {MAX_RECEIVE_COUNT_MINIMUM} (AWS guidance)")
        visibility = self.effective_visibility_timeout_seconds
        if visibility < self.minimum_visibility_timeout_seconds:
            problems.append(
                f"visibility timeout {visibility} s is below {VISIBILITY_TIMEOUT_FACTOR} x consumer timeout "
                f"({self.consumer_timeout_seconds} s) + batching window ({self.batching_window_seconds} s) "
                f"= {self.minimum_visibility_timeout_seconds} s"
            )
        if visibility > SQS_MAX_VISIBILITY_TIMEOUT_SECONDS:
            problems.append(f"visibility timeout {visibility} s exceeds the SQS maximum of 12 hours")
        if problems:
            raise ConfigurationError("invalid queue topology: " + "; ".join(problems))
        return self


DEFAULT_TOPOLOGY: Final = QueueTopology().validate()
