"""A consumer thread that keeps a moto queue shallow while a test produces, keeping every body it received.

moto's cost per call grows with the queue's depth (on the 2-core development machine, ~170 msg/s with at most
~100 messages queued, ~13 msg/s draining a 2,000-message backlog), so volume tests drain as they go.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

    from mypy_boto3_sqs import SQSClient


class Drainer:
    """Receives and deletes messages from one queue in a background thread until stopped."""

    def __init__(self, client: SQSClient, queue_url: str, *, attributes: bool = False) -> None:
        self._client = client
        self._queue_url = queue_url
        self._attributes = attributes
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="drainer", daemon=True)
        self.messages: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def __enter__(self) -> Drainer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def count(self) -> int:
        """Messages received and deleted so far."""
        with self._lock:
            return len(self.messages)

    def bodies(self) -> list[Any]:
        """Every received body, parsed as JSON."""
        with self._lock:
            return [json.loads(message["Body"]) for message in self.messages]

    def wait_for(self, count: int, *, timeout: float = 120.0) -> None:
        """Block until at least ``count`` messages were drained (or fail after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self.count < count:
            if self.error is not None:
                raise AssertionError(f"the drainer failed: {self.error!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"drained {self.count} of {count} messages in {timeout} s")
            time.sleep(0.01)

    def _run(self) -> None:
        extra: dict[str, Any] = {}
        if self._attributes:
            extra = {"MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"]}
        try:
            while not self._stop.is_set():
                received = self._client.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **extra
                ).get("Messages", [])
                if not received:
                    continue
                self._client.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)],
                )
                with self._lock:
                    self.messages.extend(dict(message) for message in received)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread by wait_for
            self.error = exc
