"""TLS to the database, verified for real: a throwaway PostgreSQL serving a certificate from a CA of our own.

The consumer's credentials providers default to ``sslmode=verify-full`` against the Amazon root bundle shipped in
the package (what the deployed functions use against RDS Proxy). Here a local server with a self-signed CA shows
that verification is real: the consumer stores a batch over TLS when it trusts the server's CA and the name
matches; it refuses the server when it trusts only the bundled Amazon roots, and when the certificate names
another host (``verify-full``), which ``verify-ca`` alone would accept. The wheel the Lambda asset is built from
ships the bundle.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import time
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Final

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg import sql
from pydantic import SecretStr

from sluice_cli.context import LocalContext
from sluice_consumer import runtime
from sluice_consumer.credentials import AMAZON_ROOT_CA_BUNDLE
from sluice_consumer.handler import lambda_handler
from sluice_consumer.migrations import apply_migrations
from sluice_consumer.settings import ConsumerSettings, SslMode
from sluice_local.cluster import ThrowawayCluster, find_postgres_binaries
from tests.support.factories import event_body
from tests.unit.consumer.sqs_events import sqs_event

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT: Final = Path(__file__).parents[3]
LOOPBACK: Final = "127.0.0.1"
RELOAD_TIMEOUT_SECONDS: Final = 10.0


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _bundled_ca() -> str:
    """The Amazon root bundle inside the installed consumer package (the default ``sslrootcert``)."""
    return str(files("sluice_consumer").joinpath(AMAZON_ROOT_CA_BUNDLE))


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _owned_like(path: Path, directory: Path, mode: int) -> None:
    """Give ``path`` the server's owner (the cluster directory's) and ``mode``: PostgreSQL checks its key's mode."""
    status = directory.stat()
    os.chown(path, status.st_uid, status.st_gid)
    path.chmod(mode)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path]]]:
    """A throwaway cluster with ``ssl=on``: certificates for 127.0.0.1 and for another name, from one test CA.

    Yields the cluster URL (migrated) and the CA file and the two server certificate choices.
    """
    binaries = find_postgres_binaries()
    assert binaries is not None, "the TLS test needs PostgreSQL's server binaries (initdb, postgres)"
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Sluice test CA", _name("Sluice test CA"), ca_key, ca_key, ca=True)
    loopback: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
    elsewhere: list[x509.GeneralName] = [x509.DNSName("db.elsewhere.internal")]
    contents = {
        "ca": _pem(ca),
        "loopback": _pem(_certificate(LOOPBACK, ca.subject, server_key, ca_key, names=loopback)),
        "elsewhere": _pem(_certificate("db.elsewhere.internal", ca.subject, server_key, ca_key, names=elsewhere)),
        "key": server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }
    with ThrowawayCluster(binaries) as cluster:
        assert cluster.directory is not None
        paths = {}
        for name, content in contents.items():
            path = cluster.directory / f"{name}.pem"
            path.write_bytes(content)
            _owned_like(path, cluster.directory, 0o600 if name == "key" else 0o644)
            paths[name] = path
        apply_migrations(cluster.url)
        _serve_tls(cluster.url, certificate=paths["loopback"], key=paths["key"])
        yield cluster.url, paths


def _serve_tls(url: str, *, certificate: Path, key: Path) -> None:
    """Turn TLS on with ``certificate`` (settings PostgreSQL reloads without a restart) and wait until it serves."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET ssl = on")
        conn.execute(sql.SQL("ALTER SYSTEM SET ssl_cert_file = {}").format(sql.Literal(str(certificate))))
        conn.execute(sql.SQL("ALTER SYSTEM SET ssl_key_file = {}").format(sql.Literal(str(key))))
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + RELOAD_TIMEOUT_SECONDS
    while True:
        try:
            with psycopg.connect(url, sslmode="require", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def consumer(tls_server: tuple[str, dict[str, Path]]) -> Iterator[str]:
    yield tls_server[0]
    runtime.configure(None)


def _consume_one(url: str, *, sslmode: SslMode, sslrootcert: Path | None) -> dict[str, object]:
    runtime.configure(
        ConsumerSettings(
            database_url=SecretStr(url),
            db_sslmode=sslmode,
            db_sslrootcert=None if sslrootcert is None else str(sslrootcert),
            db_connect_timeout_s=2,
        )
    )
    return dict(lambda_handler(sqs_event([event_body()]), LocalContext()))


def test_the_consumer_stores_over_verified_tls_when_it_trusts_the_servers_ca(
    consumer: str, tls_server: tuple[str, dict[str, Path]]
) -> None:
    _, paths = tls_server

    response = _consume_one(consumer, sslmode=SslMode.VERIFY_FULL, sslrootcert=paths["ca"])

    assert response == {"batchItemFailures": []}
    with psycopg.connect(consumer, sslmode="verify-full", sslrootcert=str(paths["ca"])) as conn:
        row = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
            "WHERE application_name = 'sluice-consumer'"
        ).fetchone()
    assert row is not None
    assert row[0] is True
    assert row[1].startswith("TLSv1.")


def test_the_bundled_amazon_roots_do_not_trust_another_ca(consumer: str) -> None:
    response = _consume_one(consumer, sslmode=SslMode.VERIFY_FULL, sslrootcert=None)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(consumer, sslmode="verify-full", sslrootcert=_bundled_ca(), connect_timeout=2).close()


def test_verify_full_refuses_a_certificate_for_another_host_that_verify_ca_accepts(
    consumer: str, tls_server: tuple[str, dict[str, Path]]
) -> None:
    _, paths = tls_server
    _serve_tls(consumer, certificate=paths["elsewhere"], key=paths["key"])
    try:
        full = _consume_one(consumer, sslmode=SslMode.VERIFY_FULL, sslrootcert=paths["ca"])
        runtime.configure(None)
        ca_only = _consume_one(consumer, sslmode=SslMode.VERIFY_CA, sslrootcert=paths["ca"])
        with pytest.raises(psycopg.OperationalError, match="does not match host name"):
            psycopg.connect(consumer, sslmode="verify-full", sslrootcert=str(paths["ca"]), connect_timeout=2).close()
    finally:
        _serve_tls(consumer, certificate=paths["loopback"], key=paths["key"])

    assert full == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert ca_only == {"batchItemFailures": []}


def test_the_wheel_the_asset_is_built_from_ships_the_amazon_root_bundle(tmp_path: Path) -> None:
    from uv import find_uv_bin  # noqa: PLC0415 - the build tool the asset builder uses

    # As `make build` installs the workspace packages: non-editable wheels into the asset directory.
    subprocess.run(
        [find_uv_bin(), "pip", "install", "--quiet", "--no-deps", "--target", str(tmp_path), "services/consumer"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )

    shipped = tmp_path / "sluice_consumer" / AMAZON_ROOT_CA_BUNDLE
    assert shipped.read_bytes() == Path(_bundled_ca()).read_bytes()
    assert shipped.read_text(encoding="ascii").count("-----BEGIN CERTIFICATE-----") == 5
