"""In-memory fakes for the local pipeline's ports: a scripted queue and a manual clock."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sluice_shared.errors import SluiceError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sqs.literals import MessageSystemAttributeNameType
    from mypy_boto3_sqs.type_defs import MessageTypeDef

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:events"
REGION = "us-east-1"


def sqs_message(
    body: str = '{"hello": "world"}',
    *,
    receive_count: int = 1,
    group_id: str | None = None,
    deduplication_id: str | None = None,
    sequence_number: str | None = None,
) -> MessageTypeDef:
    """A message as ReceiveMessage returns it (with all system attributes, plus the FIFO ones given)."""
    message_id = str(uuid.uuid4())
    attributes: dict[MessageSystemAttributeNameType, str] = {
        "SenderId": "AIDAEXAMPLE",
        "SentTimestamp": "1700000000000",
        "ApproximateReceiveCount": str(receive_count),
        "ApproximateFirstReceiveTimestamp": "1700000000001",
    }
    if group_id is not None:
        attributes["MessageGroupId"] = group_id
    if deduplication_id is not None:
        attributes["MessageDeduplicationId"] = deduplication_id
    if sequence_number is not None:
        attributes["SequenceNumber"] = sequence_number
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"rh-{message_id}",
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "Body": body,
        "Attributes": attributes,
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

    script: list[list[MessageTypeDef] | SluiceError] = field(default_factory=list)
    clock: ManualClock | None = None
    arn: str = QUEUE_ARN
    region: str = REGION
    deleted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    receives: list[tuple[int, int]] = field(default_factory=list)
    refuse_delete: set[str] = field(default_factory=set)
    delete_errors: list[SluiceError] = field(default_factory=list)

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[MessageTypeDef]:
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

    def delete(self, messages: Sequence[MessageTypeDef]) -> list[str]:
        if self.delete_errors:
            raise self.delete_errors.pop(0)
        refused = [m["MessageId"] for m in messages if m["MessageId"] in self.refuse_delete]
        self.deleted.extend(m["MessageId"] for m in messages if m["MessageId"] not in self.refuse_delete)
        return refused

    def release(self, messages: Sequence[MessageTypeDef]) -> None:
        self.released.extend(m["MessageId"] for m in messages)
