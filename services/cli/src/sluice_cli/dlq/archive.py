"""``--archive FILE``: every message a replay is about to send, one body per line, on disk before the send.

The file is JSON Lines that ``sluice push FILE`` reads back: one event body per line. A body that is one
line of JSON is written exactly as it was received; a JSON body spread over several lines is written as the
same JSON on one line (``json.dumps``, ASCII-escaped); a body that is not JSON at all is written as one JSON
string so the line is still valid JSON (``sluice push`` will then reject it as not being an object). The file
is opened for appending: a rerun after a crash adds to it and never overwrites an earlier archive.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Self, TextIO

from sluice_shared.errors import PermanentError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType

    from sluice_cli.dlq.messages import DeadLetter

__all__ = ["ArchiveError", "JsonLinesArchive", "archive_line"]


class ArchiveError(PermanentError):
    """The archive file cannot be opened or written: nothing more is moved."""

    code = "archive"


def archive_line(message: DeadLetter) -> str:
    """The line (without its newline) that stands for ``message``'s body in the archive."""
    if message.parsed_body is None:
        return json.dumps(message.body)
    # splitlines() knows every line break a reader might split on (\r, \u2028, \x85, ...), not only \n.
    if len(message.body.splitlines()) == 1 and not message.body.endswith(("\n", "\r")):
        return message.body
    return json.dumps(message.parsed_body, separators=(",", ":"))


class JsonLinesArchive:
    """Appends message bodies to a file, flushed and fsynced before :meth:`write` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self.written = 0

    def __enter__(self) -> Self:
        try:
            self._file = self.path.open("a", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise ArchiveError(f"cannot open archive {self.path}: {exc.strerror or exc}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, messages: Sequence[DeadLetter]) -> None:
        """Append one line per message and force it to disk.

        Raises:
            ArchiveError: the file is not open or cannot be written (disk full, ...).
        """
        if self._file is None:
            raise ArchiveError(f"archive {self.path} is not open")
        try:
            self._file.write("".join(archive_line(message) + "\n" for message in messages))
            self._file.flush()
            # flush() hands the lines to the OS (enough if the process is killed); fsync survives a power cut.
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise ArchiveError(f"cannot write archive {self.path}: {exc.strerror or exc}") from exc
        self.written += len(messages)
