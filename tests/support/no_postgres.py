"""A pytest plugin (``-p tests.support.no_postgres``) that plays a machine without PostgreSQL.

It hides the Docker engine and the local server binaries from the integration suite's provisioning, so a test
can check what a newcomer without any PostgreSQL sees. With no ``SLUICE_TEST_DATABASE_URL`` either, the run has
no source left.
"""

from __future__ import annotations

from tests.support import postgres


def pytest_configure() -> None:
    postgres.PROBES.update(docker_available=lambda: False, find_binaries=lambda: None)
