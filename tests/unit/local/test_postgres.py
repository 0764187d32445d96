"""Which PostgreSQL the local pipeline uses, in the documented order, and how URLs are shown."""

from __future__ import annotations

import gc
import socket
from contextlib import contextmanager

import pytest
from psycopg.conninfo import conninfo_to_dict

from sluice_local.container import docker_listening
from sluice_local.database import DatabaseKind, ProvisionedDatabase, mask_password
from sluice_local.postgres import NO_DATABASE_MESSAGE, NoDatabaseError, provision_postgres


def _unexpected():
    raise AssertionError("this source must not be tried")


def test_an_explicit_url_wins_without_probing_docker_or_binaries():
    with provision_postgres("postgresql://me@db/app", docker_available=_unexpected, find_binaries=_unexpected) as db:
        assert db == ProvisionedDatabase("postgresql://me@db/app", DatabaseKind.EXPLICIT)


def test_a_reachable_docker_engine_runs_a_container_and_stops_it():
    events = []

    @contextmanager
    def container():
        events.append("started")
        yield ProvisionedDatabase("postgresql://test:test@localhost:32768/test", DatabaseKind.CONTAINER, "container c1")
        events.append("stopped")

    with provision_postgres(
        None, docker_available=lambda: True, find_binaries=_unexpected, start_container=container
    ) as db:
        assert (db.kind, db.where) == (DatabaseKind.CONTAINER, "container c1")
        assert mask_password(db.url) == "postgresql://test:***@localhost:32768/test"
        assert events == ["started"]
    assert events == ["started", "stopped"]


def test_no_url_no_docker_and_no_binaries_is_one_clear_error_naming_the_three_options():
    with (
        pytest.raises(NoDatabaseError, match=r"^no PostgreSQL for the local pipeline") as raised,
        provision_postgres(None, docker_available=lambda: False, find_binaries=lambda: None),
    ):
        pass

    assert str(raised.value) == NO_DATABASE_MESSAGE
    assert "--database-url" in NO_DATABASE_MESSAGE
    assert "SLUICE_DATABASE_URL" in NO_DATABASE_MESSAGE
    assert "Docker" in NO_DATABASE_MESSAGE
    assert "initdb" in NO_DATABASE_MESSAGE
    assert raised.value.code == "no_database"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cr%40t@db.example:5432/app", "postgresql://app:***@db.example:5432/app"),
        ("postgresql://app@db.example/app", "postgresql://app@db.example/app"),
        ("host=db user=app", "host=db user=app"),
    ],
)
def test_passwords_are_masked_for_printing(url, shown):
    assert mask_password(url) == shown


def test_a_conninfo_password_is_masked():
    masked = mask_password("host=db user=app password=secret dbname=app")

    assert conninfo_to_dict(masked) == {"host": "db", "user": "app", "password": "***", "dbname": "app"}


def test_the_docker_probe_is_false_without_a_listener_and_closes_its_socket(tmp_path, recwarn):
    assert docker_listening(f"unix://{tmp_path / 'docker.sock'}") is False
    gc.collect()

    assert [w for w in recwarn if issubclass(w.category, ResourceWarning)] == []


def test_the_docker_probe_connects_to_a_listening_unix_socket(tmp_path):
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen()

        assert docker_listening(f"unix://{path}") is True
