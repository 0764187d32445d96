"""The test proxy's own login to a server: SCRAM-SHA-256 and MD5 computed as the RFCs and PostgreSQL define them."""

from __future__ import annotations

import struct

import pytest

from tests.support.pgauth import AuthenticationError, ScramClient, md5_password, startup_message

# RFC 7677, section 3: the SCRAM-SHA-256 exchange for user "user", password "pencil".
RFC_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_matches_the_rfc_7677_example_and_verifies_the_server():
    client = ScramClient("pencil", user="user", nonce=RFC_NONCE)

    first = client.first()
    final = client.final_data(RFC_SERVER_FIRST)

    assert first.endswith(b"SCRAM-SHA-256\x00" + struct.pack("!i", 32) + b"n,,n=user,r=" + RFC_NONCE.encode())
    assert final == RFC_CLIENT_FINAL
    client.verify(RFC_SERVER_FINAL)


def test_scram_refuses_a_server_that_does_not_know_the_password():
    client = ScramClient("pencil", user="user", nonce=RFC_NONCE)
    client.first()
    client.final_data(RFC_SERVER_FIRST)

    with pytest.raises(AuthenticationError, match="signature does not verify"):
        client.verify(b"v=" + b"A" * 44)


def test_scram_refuses_a_server_nonce_that_does_not_extend_the_clients():
    client = ScramClient("pencil", nonce=RFC_NONCE)
    client.first()

    with pytest.raises(AuthenticationError, match="nonce"):
        client.final_data("r=someone-else,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")


def test_md5_is_postgresqls_double_hash_with_the_salt():
    # "md5" + md5(md5(password + user) as hex + salt), PostgreSQL's AuthenticationMD5Password answer
    message = md5_password("app", "secret", b"\x01\x02\x03\x04")

    assert message == b"p" + struct.pack("!i", 40) + b"md5911f527656472583a006e7727877b33e\x00"


def test_a_startup_message_carries_protocol_3_and_its_parameters():
    message = startup_message({"user": "app", "database": "db"})

    assert struct.unpack_from("!ii", message) == (len(message), 196608)
    assert message[8:] == b"user\x00app\x00database\x00db\x00\x00"
