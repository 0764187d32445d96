"""A Lambda-like invocation context whose remaining-time clock counts down from a real deadline.

Used wherever a real handler runs outside Lambda: ``sluice consume``, the local pipeline (``sluice_local``) and
the tests. It lives in the CLI package, which both of the others reach and no Lambda asset ships.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Final

from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["LocalContext"]

LOCAL_ACCOUNT_ID: Final = "000000000000"
LOCAL_REGION: Final = "local"  # a placeholder region for the ARN when the caller has none
DEFAULT_FUNCTION_NAME: Final = "sluice-consumer-local"
DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_MEMORY_MB: Final = 1024


class LocalContext(LambdaContext):
    """What the Lambda runtime passes as ``context``: names, a request id and the time left before the timeout.

    ``get_remaining_time_in_millis()`` reads ``clock`` (monotonic seconds) against the deadline set at
    construction, so a handler that budgets its work by the remaining time behaves as it would in Lambda.
    """

    def __init__(
        self,
        *,
        function_name: str = DEFAULT_FUNCTION_NAME,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        region: str = LOCAL_REGION,
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
        self._deadline = clock() + timeout_s

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        """Milliseconds left before the invocation's timeout (never negative)."""
        return max(0, int((self._deadline - self._clock()) * 1000))

    @property
    def timed_out(self) -> bool:
        """True once the deadline has passed: Lambda would have stopped the function and failed the batch."""
        return self._clock() > self._deadline
