"""The throwaway PostgreSQL cluster from local server binaries: it serves, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from sluice_local.cluster import ThrowawayCluster, find_postgres_binaries
from sluice_local.database import DatabaseKind
from sluice_local.postgres import provision_postgres


@pytest.fixture
def binaries():
    found = find_postgres_binaries()
    assert found is not None, "these tests need PostgreSQL's server binaries (initdb, postgres)"
    return found


def test_without_url_or_docker_provisioning_falls_back_to_a_throwaway_cluster(binaries):
    with provision_postgres(None, docker_available=lambda: False) as database, psycopg.connect(database.url) as conn:
        row = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone()

    assert row is not None
    user, address = row
    assert database.kind is DatabaseKind.CLUSTER
    assert (user, address) == ("postgres", "127.0.0.1/32")


def test_a_stopped_cluster_leaves_no_process_and_no_directory(binaries):
    # given a running cluster with some data
    cluster = ThrowawayCluster(binaries)
    cluster.start()
    directory = cluster.directory
    assert directory is not None
    with psycopg.connect(cluster.url) as conn:
        conn.execute("CREATE TABLE probe (id int)")
    assert (directory / "data" / "PG_VERSION").is_file()

    # when
    cluster.stop()

    # then
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.url, connect_timeout=2)
    assert not [pid for pid in _pids() if str(directory) in _cmdline(pid)]


def _pids() -> list[Path]:
    return [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _cmdline(pid: Path) -> str:
    try:
        return (pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
