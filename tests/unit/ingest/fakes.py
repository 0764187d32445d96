"""An in-memory SQS sender for the ingest tests: records what would be sent, fails on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice_shared.sqs import SendOutcome

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sluice_shared.errors import SluiceError
    from sluice_shared.sqs import OutgoingMessage


@dataclass
class FakeSender:
    """Implements ``MessageSender``: accepts everything, or fails everything with ``error``."""

    queue_url: str = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
    error: SluiceError | None = None
    sent: list[OutgoingMessage] = field(default_factory=list)

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        *,
        on_sent: Callable[[Sequence[SendOutcome]], None] | None = None,
    ) -> list[SendOutcome]:
        if self.error is not None:
            outcomes = [SendOutcome(m.key, error=self.error, attempts=1) for m in messages]
        else:
            outcomes = [
                SendOutcome(m.key, message_id=f"m-{len(self.sent) + i}", attempts=1) for i, m in enumerate(messages)
            ]
            self.sent.extend(messages)
        if on_sent is not None:
            on_sent(outcomes)
        return outcomes

    def bodies(self) -> list[dict[str, Any]]:
        import json  # noqa: PLC0415

        return [json.loads(message.body) for message in self.sent]
