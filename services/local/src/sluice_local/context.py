"""A Lambda-like invocation context whose remaining-time clock counts down from a real deadline."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["LocalLambdaContext"]

LOCAL_ACCOUNT_ID = "000000000000"
DEFAULT_MEMORY_MB = 1024


class LocalLambdaContext(LambdaContext):
    """What the Lambda runtime passes as ``context``: names, a request id and the time left before the timeout.

    ``get_remaining_time_in_millis()`` reads ``clock`` (monotonic seconds) against the deadline set at
    construction, so a handler that budgets its work by the remaining time behaves as it would in Lambda.
    """

    def __init__(
        self,
        *,
        function_name: str,
        timeout_seconds: float,
        region: str,
        memory_limit_in_mb: int = DEFAULT_MEMORY_MB,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{function_name}"
        self._memory_limit_in_mb = memory_limit_in_mb
        self._aws_request_id = str(uuid.uuid4())
        self._log_group_name = f"/aws/lambda/{function_name}"
        self._log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self._tenant_id = None
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        """Milliseconds left before the invocation's timeout (never negative)."""
        return max(0, int((self._deadline - self._clock()) * 1000))

    @property
    def timed_out(self) -> bool:
        """True once the deadline has passed: Lambda would have stopped the function and failed the batch."""
        return self._clock() > self._deadline
