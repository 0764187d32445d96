"""The drops armed on the test proxy, decided per client message (pure: no I/O, no thread)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import re

    from tests.support.pgwire import FrontendMessage

__all__ = ["DropRule", "FaultPlan"]


@dataclass
class DropRule:
    """Drop the connection whose statement matches ``pattern``, before it reaches the server or after its reply."""

    pattern: re.Pattern[str]
    after_reply: bool
    remaining: int


@dataclass
class FaultPlan:
    """The drops armed on the proxy: after N more client messages, and on SQL patterns."""

    drop_rules: list[DropRule] = field(default_factory=list)
    drop_after: int | None = None

    def fate(self, message: FrontendMessage) -> Literal["forward", "drop", "drop_after_reply"]:
        """What becomes of one client message: forwarded, its connection dropped, or dropped after the reply."""
        if self.drop_after is not None:
            if self.drop_after == 0:
                self.drop_after = None
                return "drop"
            self.drop_after -= 1
        if message.sql is None:
            return "forward"
        for rule in self.drop_rules:
            if rule.remaining > 0 and rule.pattern.search(message.sql):
                rule.remaining -= 1
                return "drop_after_reply" if rule.after_reply else "drop"
        return "forward"

    def clear(self) -> None:
        """Disarm every drop."""
        self.drop_rules.clear()
        self.drop_after = None
