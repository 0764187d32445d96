"""The test proxy's public face: :class:`PgProxy`, built on :class:`~tests.support.pgproxy.faults.FaultInjection`.

Adds what a test reads and checks: the addresses to connect through, the report of what was seen, and the checks
on leaving the ``with`` block (the proxy did not break; in strict mode, nothing would have pinned).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Self

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.pgproxy.faults import FaultInjection
from tests.support.pgproxy.report import PinningDetectedError, ProxyFailedError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from tests.support.pgproxy.report import ProxyReport

__all__ = ["PgProxy"]


class PgProxy(FaultInjection):
    """A PostgreSQL wire-protocol proxy on loopback for tests (see :mod:`tests.support.pgproxy`)."""

    @classmethod
    def for_server(cls, url: str, **options: Any) -> PgProxy:
        """A proxy in front of the server of ``url`` (a URL or conninfo), logging in as its user when it must."""
        params = {name: str(value) for name, value in conninfo_to_dict(url).items()}
        return cls(
            upstream=f"{params.get('host') or '127.0.0.1'}:{params.get('port') or '5432'}",
            upstream_user=params.get("user"),
            upstream_password=params.get("password"),
            **options,
        )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Close; then, unless the block already failed, raise if the proxy broke or (strict) saw pinning."""
        report = self.report() if self._loop is not None else None
        self.close()
        if exc_type is not None or report is None:
            return
        if report.proxy_errors:
            raise ProxyFailedError(report.summary())
        if self.strict and any(record.enforced for record in report.pinning):
            raise PinningDetectedError(report.summary())

    # --- addresses --------------------------------------------------------------------------------------

    def route(self, url: str) -> str:
        """``url`` (a URL or conninfo for the upstream server) rewritten to connect through the proxy."""
        params = conninfo_to_dict(url)
        params.pop("hostaddr", None)
        params.update(host=self.host, port=str(self.port))
        return make_conninfo("", **params)

    # --- what was seen ------------------------------------------------------------------------------------

    def report(self) -> ProxyReport:
        """A snapshot of everything seen so far."""
        return self._call(self._snapshot)

    def wait_for(self, condition: Callable[[ProxyReport], bool], *, timeout: float = 5.0) -> ProxyReport:
        """Poll the report until ``condition`` holds (the proxy's thread runs behind the client); return it.

        Raises:
            AssertionError: ``condition`` still did not hold after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            report = self.report()
            if condition(report):
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"the proxy never reached the expected state:\n{report.summary()}")
            time.sleep(0.01)

    def reset(self) -> None:
        """Forget what was seen (connections stay open, armed faults stay armed)."""
        self._call(self._clear_records)
