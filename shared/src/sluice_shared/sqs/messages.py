"""What travels to and from SQS: an outgoing message, its outcome, its size as SQS counts it, attribute shapes.

Plain data and pure functions, no boto3 call: the sender, the send pipeline, the consumer's dead-letter sink and
the local emulator all speak these.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sluice_shared.limits import SQS_FIFO_SUFFIX

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

    from sluice_shared.errors import SluiceError

__all__ = [
    "Attributes",
    "OutgoingMessage",
    "SendOutcome",
    "attributes_from_lambda",
    "attributes_to_lambda",
    "is_fifo_queue",
    "message_size",
]

Attributes = Mapping[str, "MessageAttributeValueTypeDef"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """One message to send. ``key`` is the caller's handle on its outcome (any string, unique per call)."""

    key: str
    body: str
    attributes: Attributes = field(default_factory=dict)
    group_id: str | None = None
    deduplication_id: str | None = None
    # X-Ray trace header, sent as the ``AWSTraceHeader`` message system attribute (which SQS does not count
    # against the message size).
    trace_header: str | None = None

    def size(self) -> int:
        """Size as SQS counts it against its limits: body plus attribute names, types and values."""
        return message_size(self.body, self.attributes)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What happened to one message: its SQS message id, or the error that kept it from being sent."""

    key: str
    message_id: str | None = None
    error: SluiceError | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True when SQS accepted the message."""
        return self.message_id is not None


def message_size(body: str, attributes: Attributes) -> int:
    """Bytes SQS counts for a message: UTF-8 body, plus each attribute's name, data type and value."""
    size = len(body.encode("utf-8", errors="surrogatepass"))
    for name, value in attributes.items():
        size += len(name.encode()) + len(value["DataType"].encode())
        if "StringValue" in value:
            size += len(value["StringValue"].encode("utf-8", errors="surrogatepass"))
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            size += len(binary if isinstance(binary, bytes | bytearray) else bytes(binary))  # type: ignore[arg-type]
    return size


def is_fifo_queue(queue: str) -> bool:
    """True for a FIFO queue, given its URL, ARN or name (a FIFO queue's name ends in ``.fifo``)."""
    return queue.rstrip("/").endswith(SQS_FIFO_SUFFIX)


def attributes_from_lambda(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, MessageAttributeValueTypeDef]:
    """Convert a Lambda SQS record's ``messageAttributes`` (camelCase, base64 binaries) to the SQS API shape."""
    converted: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in attributes.items():
        data_type = str(value.get("dataType") or value.get("DataType") or "String")
        item: MessageAttributeValueTypeDef = {"DataType": data_type}
        string_value = value.get("stringValue", value.get("StringValue"))
        binary_value = value.get("binaryValue", value.get("BinaryValue"))
        if string_value is not None:
            item["StringValue"] = str(string_value)
        elif binary_value is not None:
            item["BinaryValue"] = (
                binary_value if isinstance(binary_value, bytes) else base64.b64decode(str(binary_value))
            )
        converted[name] = item
    return converted


def attributes_to_lambda(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Convert SQS API message attributes to the shape Lambda puts in an SQS event record."""
    converted: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode("ascii")
        converted[name] = item
    return converted
