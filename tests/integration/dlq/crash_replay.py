"""Test-only fault injection: run ``sluice dlq replay`` and SIGKILL it right after a confirmed send.

``python crash_replay.py N -- <sluice arguments>`` wraps the DLQ adapter's ``delete`` so that the process
kills itself, with no chance to clean up, just before its N-th delete: every message of that chunk has been
sent to the target and confirmed, none has been deleted from the DLQ. Product code has no such hook; the
wrapper lives here and is installed by this script only.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from sluice_cli.app import main
from sluice_cli.dlq.queue import SqsDeadLetterQueue

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sluice_cli.dlq.messages import DeadLetter


def _install(kill_before: int) -> None:
    original = SqsDeadLetterQueue.delete
    calls = {"n": 0}

    def delete(self: SqsDeadLetterQueue, messages: Sequence[DeadLetter]) -> Any:
        calls["n"] += 1
        if calls["n"] == kill_before:
            sys.stdout.write(f"killing myself before delete #{kill_before} of {len(messages)} sent messages\n")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, messages)

    SqsDeadLetterQueue.delete = delete  # type: ignore[method-assign]


if __name__ == "__main__":
    _install(int(sys.argv[1]))
    sys.exit(main(sys.argv[3:]))
