"""Hostile requests over real HTTP: the local pipeline's Function URL, the real ingest function, moto, the consumer.

Raw bytes are POSTed to the ingest URL; every answer must be a 2xx or 4xx JSON response, and every event the
ingest function accepts must reach PostgreSQL exactly as the request said (Python's ``json`` is the oracle),
with nothing dead-lettered: what passes the door passes the database. The exhaustive property tests over the
handler are in ``tests/unit/reliability/test_ingest_hostile.py``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pytest

from sluice_local.pipeline import LocalPipeline, PipelineConfig
from sluice_shared.contract import MAX_BODY_BYTES, parse_message
from tests.integration.reliability.harness import FAULT_TOPOLOGY, read_dlq
from tests.support.hostile_json import SQL_LOOKING

if TYPE_CHECKING:
    from collections.abc import Iterator

INGEST_PATH: Final = "/events"


@pytest.fixture
def pipeline(migrated_database_url: str, aws_environment: None) -> Iterator[LocalPipeline]:
    config = PipelineConfig(
        database_url=migrated_database_url, migrate=False, topology=FAULT_TOPOLOGY, poll_wait_seconds=1
    )
    with LocalPipeline(config) as running:
        yield running


def post(pipeline: LocalPipeline, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - the pipeline's own loopback URL
        pipeline.ingest_url.rstrip("/") + INGEST_PATH, data=body, headers={"content-type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def event(payload: Any, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "thing.happened",
        "source": "hostile-http",
        "occurred_at": "2026-11-26T12:00:00+05:30",
        "payload": payload,
        **fields,
    }


def _filler(target_bytes: int) -> dict[str, Any]:
    """An event whose serialized body (as the publisher writes it) is exactly ``target_bytes`` long."""
    base = event({"filler": ""}, event_id="0b5e3b59-9d1f-4bb5-9e0a-8a3e1c1e2d3f")
    overhead = len(parse_message(json.dumps(base)).to_body().encode())
    return event({"filler": "x" * (target_bytes - overhead)})


def test_hostile_requests_over_http_are_stored_exactly_or_refused_and_nothing_is_dead_lettered(
    pipeline: LocalPipeline, migrated_database_url: str
) -> None:
    # given requests a misbehaving or malicious client could send
    accepted_events = [event({"note": text, text: "as a key"}, source=text[:256]) for text in SQL_LOOKING] + [
        event(
            {"text": "emoji \U0001f600, RTL \u202e, combining e\u0301, line separator \u2028", "n": [0.1, -0, 1.5e-7]}
        ),
        event({"big": int("9" * 4300), "small": -(10**30), "nested": [[[{"a": None}]]]}),
        _filler(MAX_BODY_BYTES),
    ]
    refused_events = [
        event({"nul": "a\u0000b"}),
        event({"x": 1}, occurred_at="2026-11-26T12:00:00"),
        event({"x": 1}, schema_version="1"),
        _filler(MAX_BODY_BYTES + 1),
    ]
    whole_body_refusals = {
        "invalid UTF-8": b'{"event_type": "a.b", "payload": {"x": "\xc3\x28"}}',  # sent as octet-stream: see below
        "deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "NaN": json.dumps(event({"x": float("nan")})).encode(),
        "too long an integer": b'{"payload": {"x": ' + b"9" * 5000 + b"}}",
        "not an event": b'"just a string"',
    }

    # when
    mixed_status, mixed = post(pipeline, json.dumps(accepted_events + refused_events, ensure_ascii=False).encode())
    as_text = event({"sent as": "text/plain"})
    text_status, _ = post(pipeline, json.dumps(as_text).encode(), content_type="text/plain")
    refusals = {name: post(pipeline, body, "application/octet-stream") for name, body in whole_body_refusals.items()}
    pipeline.wait_until_drained(60)

    # then the door answered each request with a reason, never a 5xx
    assert (mixed_status, text_status) == (207, 202)
    assert [r["status"] for r in mixed["results"]] == ["queued"] * len(accepted_events) + ["rejected"] * len(
        refused_events
    )
    assert [r["error"]["code"] for r in mixed["results"][len(accepted_events) :]] == [
        "invalid_message",
        "invalid_message",
        "invalid_message",
        "too_large",
    ]
    assert {name: status for name, (status, _) in refusals.items()} == dict.fromkeys(whole_body_refusals, 400)
    assert all(answer["error"]["message"] for _, answer in refusals.values())
    # and the database holds exactly what was accepted, as it was said; nothing was dead-lettered
    with psycopg.connect(migrated_database_url) as conn:
        stored = {
            str(row[0]): row[1:]
            for row in conn.execute("SELECT event_id, source, occurred_at, payload FROM events").fetchall()
        }
    expected = {e["event_id"]: e for e in [*accepted_events, as_text]}
    assert set(stored) == set(expected)
    for event_id, sent in expected.items():
        source, occurred_at, payload = stored[event_id]
        assert (source, payload) == (sent["source"], sent["payload"])
        assert occurred_at == datetime.fromisoformat(sent["occurred_at"])
    assert read_dlq(pipeline) == []


# Invalid UTF-8 sent as application/json reaches the handler base64-encoded and is refused there.
def test_invalid_utf8_sent_as_json_is_answered_400(pipeline: LocalPipeline) -> None:
    status, answer = post(pipeline, b'{"event_type": "a.b", "payload": {"x": "\xc3\x28"}}')

    assert (status, answer["error"]["code"]) == (400, "malformed_json")
