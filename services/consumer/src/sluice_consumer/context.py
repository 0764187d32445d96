"""A Lambda-like context for running the real handler outside Lambda (``sluice consume``, tests, local runs)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Final

__all__ = ["LocalContext"]

DEFAULT_TIMEOUT_S: Final = 60.0


@dataclass(slots=True)
class LocalContext:
    """The attributes Powertools reads from a Lambda context, and a remaining-time clock."""

    function_name: str = "sluice-consumer-local"
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """A placeholder ARN naming the function."""
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of ``timeout_s`` since the context was created."""
        return max(0, int((self.started + self.timeout_s - time.monotonic()) * 1000))
