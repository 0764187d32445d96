"""Reading events one at a time from a JSON Lines or JSON array file, or stdin, whatever its size.

The format is taken from the first character that is not whitespace (or a UTF-8 byte order mark): ``[``
opens a JSON array, streamed element by element with ijson's C parser (the whole document is never held);
anything else is JSON Lines, one event per line. Only one line or one array element is in memory at a time,
plus the read buffer.

A JSON Lines line that cannot be read (not UTF-8, not JSON, longer than any message could be) is reported as
that line's own problem and reading goes on, as one bad message never takes its neighbours down. A JSON
array that breaks off cannot be read past the break: iteration raises :class:`MalformedMessageError` there,
after yielding every element before it.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import ijson

from sluice_shared.errors import ConfigurationError, InvalidMessageError, MalformedMessageError
from sluice_shared.limits import SQS_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["MAX_LINE_BYTES", "EventReader", "Unreadable", "open_events"]

READ_BUFFER_BYTES: Final = 1 << 16
# A line longer than this cannot become a message (SQS takes at most 1 MiB; the canonical body is re-serialized
# JSON, so generous room is left for whitespace): refused without holding more than this much of it.
MAX_LINE_BYTES: Final = 4 * SQS_MAX_MESSAGE_BYTES
_BOM: Final = b"\xef\xbb\xbf"
_WHITESPACE: Final = b" \t\r\n"
# Words that read as a value given to a flag (`--dry-run true`): a missing file by that name gets a hint.
_FLAG_VALUES: Final = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A JSON Lines line that is not an event at all: why (a :class:`MalformedMessageError`)."""

    error: InvalidMessageError


class _CountingSource(io.RawIOBase):
    """A raw stream over ``head`` (already read) and then ``stream``, counting every byte taken from the input."""

    def __init__(self, head: bytes, stream: IO[bytes], consumed: int) -> None:
        super().__init__()
        self._head = head
        self._stream = stream
        # read1 returns what is available: a pipe is not waited on until a whole buffer fills.
        self._read = getattr(stream, "read1", stream.read)
        self.consumed = consumed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count], self._head = self._head[:count], self._head[count:]
            return count
        data = self._read(len(view))
        view[: len(data)] = data
        self.consumed += len(data)
        return len(data)


class EventReader:
    """Events from one binary stream, with each one's number (line number, or position in the array)."""

    def __init__(self, stream: IO[bytes], name: str, *, size: int | None = None) -> None:
        self.name = name
        self.size = size
        head, skipped_lines, consumed = _sniff(stream)
        self.is_array = head.startswith(b"[")
        self.noun = "event" if self.is_array else "line"
        self._first_line = skipped_lines + 1
        self._source = _CountingSource(head, stream, consumed)
        self._buffered = io.BufferedReader(self._source, buffer_size=READ_BUFFER_BYTES)

    @property
    def bytes_read(self) -> int:
        """Bytes taken from the input so far (at most one read buffer ahead of the events yielded)."""
        return self._source.consumed

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        """Yield ``(number, event)``; a JSON Lines line that is no event yields :class:`Unreadable` instead.

        Raises:
            MalformedMessageError: a JSON array breaks off (bad JSON, truncated): nothing after it can be read.
        """
        return self._array() if self.is_array else self._lines()

    def _lines(self) -> Iterator[tuple[int, Any]]:
        number = self._first_line - 1
        while line := self._buffered.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES:
                self._skip_rest_of_line(line)
                yield number, _unreadable(f"the line is over {MAX_LINE_BYTES} bytes: no message can be that large")
                continue
            if not line.strip():
                continue
            yield number, _parse_line(line)

    def _skip_rest_of_line(self, line: bytes) -> None:
        while not line.endswith(b"\n") and (line := self._buffered.readline(READ_BUFFER_BYTES)):
            pass

    def _array(self) -> Iterator[tuple[int, Any]]:
        position = 0
        try:
            # use_float: numbers as float, as json.loads reads them (ijson's default is Decimal).
            for event in ijson.items(self._buffered, "item", use_float=True):
                yield position, event
                position += 1
        except ijson.JSONError as exc:
            where = f"after event {position - 1}" if position else "before its first event"
            raise MalformedMessageError.single(
                None, f"{self.name}: bad JSON in the array {where} (near byte {self.bytes_read}): {_first_line(exc)}"
            ) from exc


def _sniff(stream: IO[bytes]) -> tuple[bytes, int, int]:
    """Read up to the first significant byte: the bytes from it on, the blank lines skipped, the bytes read."""
    consumed = 0
    skipped_lines = 0
    first = True
    while chunk := stream.read(READ_BUFFER_BYTES):
        consumed += len(chunk)
        if first and chunk.startswith(_BOM):
            chunk = chunk[len(_BOM) :]
        first = False
        stripped = chunk.lstrip(_WHITESPACE)
        # Count the newlines of the blank lines skipped, so line numbers stay those of the file.
        leading = chunk[: len(chunk) - len(stripped)]
        skipped_lines += leading.count(b"\n")
        if stripped:
            # Keep a partly blank first line whole, so its number is counted once.
            start = leading.rfind(b"\n") + 1
            return chunk[start:], skipped_lines, consumed
    return b"", skipped_lines, consumed


def _parse_line(line: bytes) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _unreadable(f"not UTF-8 text (byte {exc.start + 1} of the line)")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return _unreadable(f"bad JSON: {exc.msg}")
    except (ValueError, RecursionError) as exc:
        return _unreadable(f"bad JSON: {exc}")


def _unreadable(reason: str) -> Unreadable:
    return Unreadable(MalformedMessageError.single(None, reason))


def _reject_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (RFC 8259) has no such values.
    raise ValueError(f"{name} is not a JSON value")


def _first_line(exc: Exception) -> str:
    # yajl's messages run over several lines, quoting the input with a caret under the fault.
    message = exc.args[0] if exc.args else exc
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


@contextmanager
def open_events(source: str) -> Iterator[EventReader]:
    """A reader over the file ``source``, or stdin for ``-``; the file is closed on exit.

    Raises:
        ConfigurationError: the file cannot be opened.
    """
    if source == "-":
        yield EventReader(sys.stdin.buffer, "stdin")
        return
    path = Path(source)
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        hint = " (--dry-run and --skip-validation are flags: they take no value)" if source in _FLAG_VALUES else ""
        raise ConfigurationError(f"cannot read events: {source}: no such file{hint}") from exc
    except IsADirectoryError as exc:
        raise ConfigurationError(f"cannot read events: {source} is a directory") from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read events: {source}: {exc.strerror or exc}") from exc
    with handle:
        size = path.stat().st_size if path.is_file() else None  # a FIFO or device has no size to show an ETA by
        yield EventReader(handle, source, size=size or None)
