"""The CA bundle shipped in the consumer package is exactly the Amazon Trust Services roots from certifi.

Run this module as a script (``.venv/bin/python -m tests.unit.consumer.test_ca_bundle``) to regenerate the
bundle after a certifi upgrade.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import certifi

from sluice_consumer.credentials import AMAZON_ROOT_CA_BUNDLE

# RDS Proxy's ACM certificates chain to these (https://www.amazontrust.com/repository/).
AMAZON_ISSUERS = (
    "CN=Amazon Root CA 1 O=Amazon",
    "CN=Amazon Root CA 2 O=Amazon",
    "CN=Amazon Root CA 3 O=Amazon",
    "CN=Amazon Root CA 4 O=Amazon",
    "CN=Starfield Services Root Certificate Authority - G2 O=Starfield Technologies, Inc.",
)
HEADER = (
    "# Amazon Trust Services root CAs for TLS to RDS Proxy (ACM certificates chain to them).\n"
    "# Extracted from certifi (Mozilla's CA bundle) by tests/unit/consumer/test_ca_bundle.py; do not edit.\n"
)


def amazon_roots(bundle: str) -> str:
    """The PEM blocks of ``bundle`` (certifi's format: '# Issuer: ...' comments) issued by Amazon's roots."""
    blocks = re.findall(
        r"# Issuer: (.*?)\n.*?(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n)", bundle, re.DOTALL
    )
    chosen = {issuer: pem for issuer, pem in blocks if issuer in AMAZON_ISSUERS}
    return HEADER + "".join(f"# {issuer}\n{chosen[issuer]}" for issuer in AMAZON_ISSUERS)


def bundled_path() -> Path:
    return Path(str(files("sluice_consumer").joinpath(AMAZON_ROOT_CA_BUNDLE)))


def test_bundle_holds_exactly_the_amazon_roots_from_certifi() -> None:
    expected = amazon_roots(Path(certifi.where()).read_text(encoding="ascii"))

    assert bundled_path().read_text(encoding="ascii") == expected
    assert expected.count("-----BEGIN CERTIFICATE-----") == len(AMAZON_ISSUERS)


if __name__ == "__main__":
    bundled_path().write_text(amazon_roots(Path(certifi.where()).read_text(encoding="ascii")), encoding="ascii")
