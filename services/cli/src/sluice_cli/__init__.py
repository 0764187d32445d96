"""The ``sluice`` command line: push events, consume saved events, migrate, work the DLQ, plan a deployment.

Entry point ``sluice_cli.app:main`` (the ``sluice`` console script). ``sluice local`` comes from the separate
``sluice-local`` package when it is installed. Importing this package is cheap, and imports no command: the local
package imports ``sluice_cli.console`` while ``sluice_cli.app`` imports it, so the package itself must not.
"""

from __future__ import annotations

__all__: list[str] = []
