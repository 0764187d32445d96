"""What the test proxy saw: its report and records, and the errors a test fails with."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tests.support.pgwire import FrontendMessage, PinningKind, PinningTrigger

__all__ = [
    "ConnectionRecord",
    "PinningDetectedError",
    "PinningRecord",
    "ProxyFailedError",
    "ProxyReport",
    "Recorder",
    "StatementRecord",
]


class PinningDetectedError(AssertionError):
    """The client sent something that would pin its RDS Proxy session."""


class ProxyFailedError(AssertionError):
    """The proxy itself failed (a bug in the test tool, not in the code under test)."""


@dataclass(frozen=True)
class StatementRecord:
    """One SQL text the client sent: over the simple (Query) or extended (Parse) protocol."""

    connection: int
    protocol: Literal["simple", "extended"]
    sql: str


@dataclass(frozen=True)
class PinningRecord:
    """One pinning trigger, on which connection, and whether the strict proxy failed that connection for it."""

    connection: int
    trigger: PinningTrigger
    enforced: bool

    def __str__(self) -> str:
        return f"connection {self.connection}: {self.trigger}"


@dataclass(frozen=True)
class ConnectionRecord:
    """One client connection: its startup parameters and who ended it (``None`` while open)."""

    id: int
    startup_parameters: Mapping[str, str]
    closed_by: str | None


@dataclass(frozen=True)
class ProxyReport:
    """Everything the proxy saw since it started (or since :meth:`PgProxy.reset`)."""

    connections: tuple[ConnectionRecord, ...]
    statements: tuple[StatementRecord, ...]
    pinning: tuple[PinningRecord, ...]
    extended_protocol_used: bool
    binary_parameters_used: bool
    named_statements: tuple[str, ...]
    message_counts: Mapping[str, int]
    cancel_requests: int
    faults: tuple[str, ...]
    proxy_errors: tuple[str, ...]

    @property
    def sql(self) -> tuple[str, ...]:
        """The SQL texts in the order they were sent."""
        return tuple(record.sql for record in self.statements)

    def pinning_kinds(self) -> set[PinningKind]:
        """The kinds of pinning trigger seen."""
        return {record.trigger.kind for record in self.pinning}

    def summary(self) -> str:
        """A few lines for a test failure or a printout."""
        lines = [
            (
                f"connections: {len(self.connections)}, statements: {len(self.statements)}, "
                f"extended protocol: {self.extended_protocol_used}, "
                f"binary parameters: {self.binary_parameters_used}, named statements: {list(self.named_statements)}"
            ),
            f"messages: {dict(sorted(self.message_counts.items()))}",
        ]
        lines.extend(f"pinning: {record}" for record in self.pinning)
        lines.extend(f"fault: {fault}" for fault in self.faults)
        lines.extend(f"proxy error: {error}" for error in self.proxy_errors)
        return "\n".join(lines)


@dataclass
class Recorder:
    """What the proxy has seen so far, kept on the proxy's thread; :meth:`snapshot` freezes it into a report."""

    connections: dict[int, ConnectionRecord] = field(default_factory=dict)
    statements: list[StatementRecord] = field(default_factory=list)
    pinning: list[PinningRecord] = field(default_factory=list)
    extended: bool = False
    binary: bool = False
    named: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    cancels: int = 0
    faults: list[str] = field(default_factory=list)
    proxy_errors: list[str] = field(default_factory=list)

    def record(self, connection: int, message: FrontendMessage) -> None:
        """Count one client message; note its protocol, its SQL and the named statement it uses."""
        self.counts[message.name] += 1
        self.extended = self.extended or message.extended
        self.binary = self.binary or message.binary_parameters
        if message.sql is not None:
            protocol: Literal["simple", "extended"] = "simple" if message.type == "Q" else "extended"
            self.statements.append(StatementRecord(connection, protocol, message.sql))
        if message.type in {"P", "B"} and message.statement and message.statement not in self.named:
            self.named.append(message.statement)

    def snapshot(self) -> ProxyReport:
        """Everything recorded, as an immutable report."""
        return ProxyReport(
            connections=tuple(self.connections[key] for key in sorted(self.connections)),
            statements=tuple(self.statements),
            pinning=tuple(self.pinning),
            extended_protocol_used=self.extended,
            binary_parameters_used=self.binary,
            named_statements=tuple(self.named),
            message_counts=dict(self.counts),
            cancel_requests=self.cancels,
            faults=tuple(self.faults),
            proxy_errors=tuple(self.proxy_errors),
        )
