"""In-memory fakes for the local pipeline's ports: a scripted queue and a manual clock."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice_shared.errors import SluiceError

if TYPE_CHECKING:
    from collections.abc import Sequence

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:events"
REGION = "us-east-1"


def sqs_message(body: str = '{"hello": "world"}', *, receive_count: int = 1, **attributes: str) -> dict[str, Any]:
    """A message as ReceiveMessage returns it (with all system attributes)."""
    message_id = str(uuid.uuid4())
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"rh-{message_id}",
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "Body": body,
        "Attributes": {
            "SenderId": "AIDAEXAMPLE",
            "SentTimestamp": "1700000000000",
            "ApproximateReceiveCount": str(receive_count),
            "ApproximateFirstReceiveTimestamp": "1700000000001",
            **attributes,
        },
    }


@dataclass
class ManualClock:
    """A monotonic clock that only moves when told to."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeQueue:
    """Hands out scripted receive results in order; records deletes, releases and receive calls."""

    script: list[list[dict[str, Any]] | SluiceError] = field(default_factory=list)
    clock: ManualClock | None = None
    arn: str = QUEUE_ARN
    region: str = REGION
    deleted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    receives: list[tuple[int, int]] = field(default_factory=list)
    refuse_delete: set[str] = field(default_factory=set)
    delete_errors: list[SluiceError] = field(default_factory=list)

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        self.receives.append((max_messages, wait_seconds))
        if not self.script:
            if self.clock is not None:
                self.clock.advance(wait_seconds)  # an empty long poll takes its whole wait
            return []
        step = self.script.pop(0)
        if isinstance(step, SluiceError):
            raise step
        assert len(step) <= max_messages, "the fake was scripted to return more than was asked for"
        return step

    def delete(self, messages: Sequence[dict[str, Any]]) -> list[str]:
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        refused = [m["MessageId"] for m in messages if m["MessageId"] in self.refuse_delete]
        self.deleted.extend(m["MessageId"] for m in messages if m["MessageId"] not in self.refuse_delete)
        return refused

    def release(self, messages: Sequence[dict[str, Any]]) -> None:
        self.released.extend(m["MessageId"] for m in messages)
