"""The test proxy's pinning detector: which client messages would pin an RDS Proxy session, and which to refuse.

RDS Proxy pins a client to its database connection (ending multiplexing) on session-level state: SET outside a
transaction, advisory locks, temporary tables, named prepared statements, some startup parameters, ... The SQL
and startup rules are :func:`tests.support.pgwire.pinning_triggers` and :func:`~tests.support.pgwire.startup_triggers`;
this module adds the protocol-level trigger (a Parse of a named statement) and decides, in strict mode, which
triggers fail the connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.support.pgproxy.wire import excerpt
from tests.support.pgwire import PinningKind, PinningTrigger, pinning_triggers

if TYPE_CHECKING:
    from collections.abc import Collection

    from tests.support.pgwire import FrontendMessage

__all__ = ["enforced_triggers", "message_triggers", "refusal"]


def message_triggers(message: FrontendMessage) -> list[PinningTrigger]:
    """The pinning triggers one client message carries: those of its SQL, and a Parse of a named statement."""
    triggers: list[PinningTrigger] = []
    if message.sql is not None:
        triggers.extend(pinning_triggers(message.sql))
    if message.type == "P" and message.statement:
        triggers.append(
            PinningTrigger(
                PinningKind.NAMED_PREPARED_STATEMENT,
                f"Parse of statement {message.statement!r}: {excerpt(message)}",
            )
        )
    return triggers


def enforced_triggers(
    triggers: Collection[PinningTrigger], *, strict: bool, allow: Collection[PinningKind]
) -> list[PinningTrigger]:
    """The triggers that fail the connection: in strict mode, every one whose kind is not allowed; else none."""
    return [trigger for trigger in triggers if strict and trigger.kind not in allow]


def refusal(trigger: PinningTrigger) -> str:
    """The message of the FATAL error the strict proxy sends for ``trigger``."""
    return f"test proxy (strict): RDS Proxy would pin this session: {trigger}"
