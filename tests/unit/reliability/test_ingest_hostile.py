"""Hostile requests against the ingest Lambda's HTTP endpoint (Hypothesis): queued faithfully or refused clearly.

Raw request bodies reach ``sluice_ingest.handler.lambda_handler`` inside real Function URL / HTTP API v2 events
(``tests/events/``), as text or base64, with assorted content types: arbitrary bytes and text, invalid UTF-8,
lone surrogates, NUL, deep nesting, huge numbers, NaN, duplicate keys, wrong types, timestamps without a zone or
out of range, SQL-looking strings, bodies at and over the size limits. For every one:

- the answer is a JSON response with a 2xx or 4xx status, never 500, never a stack trace;
- a refusal says why (an error code and a message; per-event reasons for rejected events);
- every event of the request is accounted for (queued, rejected or failed);
- every queued message is one the consumer accepts, and says exactly what the request said: Python's ``json``
  module, refusing repeated keys and NaN/Infinity, is the independent oracle.

The queue is an in-memory fake sender (``tests/unit/ingest/fakes.py``); ``tests/integration/reliability/
test_ingest_http.py`` sends hostile requests through the real HTTP server and moto.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice_ingest import runtime
from sluice_ingest.handler import lambda_handler
from sluice_ingest.settings import IngestSettings
from sluice_shared.contract import MAX_BODY_BYTES, parse_message
from sluice_shared.limits import LAMBDA_SYNC_PAYLOAD_BYTES
from sluice_shared.publisher import CORRELATION_ID_MAX_LENGTH
from tests.support.events import load_event
from tests.support.factories import event_dict
from tests.support.hostile_json import (
    HAZARDS,
    SQL_LOOKING,
    Obj,
    OracleRefusalError,
    Raw,
    json_values,
    mutated_bodies,
    payload_with_hazard,
    payloads,
    refuse_constant,
    storable_text,
    unique_members,
    write_json,
)
from tests.unit.ingest.fakes import FakeSender

if TYPE_CHECKING:
    from collections.abc import Iterator

QUEUE_URL: Final = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
# Deadlines are timing checks and the machine is shared: examples are judged on results only.
HOSTILE: Final = settings(
    deadline=None,
    max_examples=150,
    # The fake sender is cleared at the start of each example.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ANSWERED: Final = frozenset({202, 207, 400, 413, 422})
CONTENT_TYPES: Final = (
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    None,
)
_TRACE_MARKERS: Final = ("Traceback", 'File "', "sluice_ingest", "site-packages")


class Context:
    """The parts of the Lambda context the ingest handler reads."""

    function_name = "sluice-ingest"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sluice-ingest"
    aws_request_id = "hostile-request"


@pytest.fixture(autouse=True)
def sender(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSender]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    fake = FakeSender(queue_url=QUEUE_URL)
    runtime.configure(IngestSettings(queue_url=QUEUE_URL), sender=fake)
    yield fake
    runtime.configure()


# --- the request and the oracle -------------------------------------------------------------------------------


def post(body: str | bytes, *, as_base64: bool, content_type: str | None = "application/json") -> dict[str, Any]:
    """The handler's answer to a Function URL POST of ``body`` (bytes are always sent base64-encoded)."""
    event = load_event("function_url_post_events")
    if isinstance(body, bytes) or as_base64:
        raw = body if isinstance(body, bytes) else body.encode("utf-8", errors="surrogatepass")
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body, False
    if content_type is None:
        event["headers"].pop("content-type")
    else:
        event["headers"]["content-type"] = content_type
    return call(event)


def call(event: dict[str, Any]) -> dict[str, Any]:
    """Invoke the handler once."""
    response: dict[str, Any] = lambda_handler(event, Context())
    return response


def oracle(body: str | bytes) -> list[Any] | None:
    """What the request says, read by Python's ``json`` strictly: the list of events, or None if refused.

    Refused: not UTF-8, not JSON, NaN/Infinity, a repeated key, or absurd nesting.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body.encode("utf-8").decode("utf-8")
        document = json.loads(text, object_pairs_hook=unique_members, parse_constant=refuse_constant)
    except (OracleRefusalError, UnicodeError, ValueError, RecursionError):
        return None
    return document if isinstance(document, list) else [document]


def _same_instant(queued: str, said: Any) -> bool:
    return isinstance(said, str) and datetime.fromisoformat(queued) == datetime.fromisoformat(said)


def assert_answered_well(response: dict[str, Any], body: str | bytes, sender: FakeSender) -> None:
    """The property every hostile request must satisfy (see the module docstring)."""
    status = response["statusCode"]
    text = response["body"]
    assert status in ANSWERED, (status, text[:300])
    assert response["headers"]["content-type"] == "application/json"
    assert not any(marker in text for marker in _TRACE_MARKERS), text[:300]
    answer = json.loads(text)
    if status in {400, 413}:
        assert answer["error"]["code"]
        assert answer["error"]["message"].strip()
        assert sender.sent == []
        return
    said = oracle(body)
    assert said is not None, f"queued events from a body the oracle refuses: {text[:300]}"
    results = answer["results"]
    assert [result["index"] for result in results] == list(range(len(said)))
    assert answer["queued"] + answer["rejected"] + answer["failed"] == len(said)
    queued = [result for result in results if result["status"] == "queued"]
    assert len(queued) == len(sender.sent) == answer["queued"]
    for result in results:
        if result["status"] != "queued":
            assert result["error"]["code"]
            assert result["error"]["message"].strip()
    for result, message in zip(queued, sender.sent, strict=True):
        _assert_faithful(message.body, said[result["index"]], result["event_id"])


def _assert_faithful(queued_body: str, said: Any, event_id: str) -> None:
    envelope = parse_message(queued_body)  # the consumer accepts what ingest queued
    queued = json.loads(queued_body)
    assert isinstance(said, dict)
    assert queued["payload"] == said["payload"]
    assert (queued["event_type"], queued["source"]) == (said["event_type"], said["source"])
    assert queued["schema_version"] == said.get("schema_version", 1)
    assert _same_instant(queued["occurred_at"], said["occurred_at"])
    assert str(envelope.event_id) == event_id
    if said.get("event_id") is not None:
        assert uuid.UUID(said["event_id"]) == envelope.event_id
    else:
        assert envelope.event_id.version == 7  # ingest gives events without an id a new time-ordered one


# --- strategies -------------------------------------------------------------------------------------------


def envelope(payload: Any, /, **fields: Any) -> Obj:
    """An event object (members in order, so keys may repeat) around ``payload``."""
    members: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "thing.happened",
        "source": "hostile",
        "occurred_at": "2026-11-26T12:00:00Z",
        "payload": payload,
    }
    members.update(fields)
    return Obj(tuple((key, value) for key, value in members.items() if value is not _OMIT))


_OMIT: Final = object()

timestamps = st.sampled_from(
    [
        "2026-11-26T12:00:00Z",
        "2026-11-26T12:00:00.123456+05:30",
        "2026-11-26T12:00:00",  # no zone
        "2026-11-26",
        "1700000000",
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC
        "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
        "2026-13-01T00:00:00Z",
        "",
    ]
) | st.text(max_size=30)
field_overrides = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.sampled_from([_OMIT, None, "not-a-uuid", 42, str(uuid.uuid4()).upper()]),
        "event_type": st.sampled_from(["order.created", "Order.Created", "x", "a" * 200, 7, None])
        | st.sampled_from(SQL_LOOKING),
        "source": st.sampled_from(["", "a\x00b", "tab\there", 3.5, ["x"]]) | st.sampled_from(SQL_LOOKING),
        "occurred_at": timestamps | st.integers() | st.floats(),
        "schema_version": st.sampled_from([1, 0, 10_000, 10_001, "1", 1.0, True, Raw("1e2")]),
        "payload": st.sampled_from([None, [], "text", 1]),
        "extra_field": json_values,
    },
)


@st.composite
def hostile_events(draw: st.DrawFn) -> Obj:
    """One event: a hazard in its payload, wrong types or bad values, a repeated key, or a valid one."""
    kind = draw(st.sampled_from(["hazard", "fields", "repeated", "valid"]))
    if kind == "hazard":
        hazardous, _, _ = draw(payload_with_hazard())
        return envelope(hazardous)
    payload = draw(payloads)
    if kind == "repeated":
        value = draw(json_values)
        if draw(st.booleans()):
            return Obj((*envelope(payload).members, ("source", value)))
        return envelope(Obj((*payload.items(), ("twice", value), ("twice", value))))
    if kind == "fields":
        return envelope(payload, **draw(field_overrides))
    return envelope(payload)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> str:
    """One event, or an array of one to four, written by :func:`write_json` (it can spell hostile JSON)."""
    events = draw(st.lists(hostile_events(), min_size=1, max_size=4))
    document: Any = events[0] if len(events) == 1 and draw(st.booleans()) else events
    return write_json(document, ascii_only=draw(st.booleans()))


# --- properties -----------------------------------------------------------------------------------------------


@HOSTILE
@given(body=hostile_bodies(), as_base64=st.booleans(), content_type=st.sampled_from(CONTENT_TYPES))
def test_hostile_events_are_queued_faithfully_or_refused_with_a_reason(
    body: str, as_base64: bool, content_type: str | None, sender: FakeSender
) -> None:
    sender.sent.clear()
    assert_answered_well(post(body, as_base64=as_base64, content_type=content_type), body, sender)


@HOSTILE
@given(body=mutated_bodies())
def test_near_misses_of_valid_bodies_are_queued_faithfully_or_refused(body: str, sender: FakeSender) -> None:
    sender.sent.clear()
    assert_answered_well(post(body, as_base64=False), body, sender)


@HOSTILE
@given(body=st.binary(max_size=64) | st.text(max_size=64).map(lambda text: text.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_are_answered_and_never_crash(body: bytes, sender: FakeSender) -> None:
    sender.sent.clear()
    assert_answered_well(post(body, as_base64=True), body, sender)


@HOSTILE
@given(body=st.text(max_size=64))
def test_arbitrary_text_is_answered_and_never_crashes(body: str, sender: FakeSender) -> None:
    sender.sent.clear()
    assert_answered_well(post(body, as_base64=False), body, sender)


@HOSTILE
@given(key=st.text(max_size=300), correlation=st.text(max_size=200))
def test_hostile_headers_are_answered_and_never_echoed_unsafely(key: str, correlation: str, sender: FakeSender) -> None:
    sender.sent.clear()
    event = load_event("function_url_post_events")
    event["body"] = json.dumps(event_dict(event_type="thing.happened"))
    event["headers"] |= {"idempotency-key": key, "x-correlation-id": correlation}

    response = call(event)

    assert response["statusCode"] in {202, 400}
    echoed = response["headers"]["x-correlation-id"]
    assert echoed.isascii()
    assert echoed.isprintable()
    assert 1 <= len(echoed) <= CORRELATION_ID_MAX_LENGTH
    assert echoed in {correlation, event["requestContext"]["requestId"]}


# --- at and over the limits, and bodies that are not what they claim --------------------------------------


@pytest.mark.parametrize("where", ["envelope", "payload"])
def test_repeated_keys_in_an_event_are_refused_not_resolved_silently(where: str, sender: FakeSender) -> None:
    event = envelope(Obj((("order_id", "o-1"), ("source", "x"), ("source", "y"))))
    if where == "envelope":
        event = Obj((*event.members, ("source", "elsewhere")))
    body = write_json([envelope({"fine": True}), event])

    response = post(body, as_base64=False)

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "malformed_json"
    assert "source" in json.loads(response["body"])["error"]["message"]
    assert sender.sent == []


@pytest.mark.parametrize(("levels", "status"), [(10, 202), (198, 202), (199, 422), (5_000, 400), (100_000, 400)])
def test_deep_nesting_is_answered_as_the_consumer_would_parse_it(levels: int, status: int, sender: FakeSender) -> None:
    body = write_json(envelope(Raw('{"deep": ' + "[" * levels + "1" + "]" * levels + "}")))

    response = post(body, as_base64=False)

    assert_answered_well(response, body, sender)
    assert response["statusCode"] == status


def test_an_event_of_exactly_the_message_limit_is_queued_and_one_byte_more_is_rejected(sender: FakeSender) -> None:
    event = event_dict(event_type="thing.happened", payload={"filler": ""})
    overhead = len(parse_message(json.dumps(event)).to_body().encode())
    at_limit = {**event, "payload": {"filler": "x" * (MAX_BODY_BYTES - overhead)}}
    over = {**event, "event_id": str(uuid.uuid4()), "payload": {"filler": "x" * (MAX_BODY_BYTES - overhead + 1)}}

    response = post(json.dumps([at_limit, over]), as_base64=False)

    answer = json.loads(response["body"])
    assert response["statusCode"] == 207
    assert [result["status"] for result in answer["results"]] == ["queued", "rejected"]
    assert answer["results"][1]["error"]["code"] == "too_large"
    assert len(sender.sent[0].body.encode()) == MAX_BODY_BYTES


def test_a_request_over_lambdas_payload_limit_is_413(sender: FakeSender) -> None:
    body = json.dumps([event_dict(payload={"filler": "x" * (LAMBDA_SYNC_PAYLOAD_BYTES // 2)})] * 2)

    response = post(body, as_base64=False)

    assert response["statusCode"] == 413
    assert json.loads(response["body"])["error"]["code"] == "body_too_large"
    assert sender.sent == []


@pytest.mark.parametrize(
    ("body", "as_base64", "code"),
    [
        ("not base64 at all!", None, "malformed_request"),
        (b"\xff\xfe{}", True, "malformed_json"),
        (b'{"event_type": "a.b", "source": "\xc3\x28"}', True, "malformed_json"),
        ("", False, "empty_body"),
        ("   ", False, "empty_body"),
        ("[]", False, "empty_body"),
        ("42", False, "malformed_request"),
        ('"a string"', False, "malformed_request"),
        ("NaN", False, "malformed_json"),
        ('{"payload": {"x": Infinity}}', False, "malformed_json"),
    ],
)
def test_bodies_that_are_not_events_get_400_with_a_code(
    body: str | bytes, as_base64: bool | None, code: str, sender: FakeSender
) -> None:
    event = load_event("function_url_post_events")
    event["body"] = body if isinstance(body, str) else base64.b64encode(body).decode()
    event["isBase64Encoded"] = as_base64 is not False

    response = call(event)

    assert (response["statusCode"], json.loads(response["body"])["error"]["code"]) == (400, code)
    assert sender.sent == []


def test_hazards_in_a_payload_are_rejected_per_event_naming_the_field(sender: FakeSender) -> None:
    # Hazards Python's json reads (NaN, over-long integers and raw surrogates make the whole body unreadable).
    readable = {"escaped NUL", "lone high surrogate, escaped", "lone low surrogate, escaped", "float overflow"}
    storable = [hazard for hazard in HAZARDS if hazard.name in readable | {"long mantissa overflow"}]
    events = [envelope({"field": Obj(()), "bad": hazard.spell(None)}) for hazard in storable]
    body = write_json([*events, envelope({"fine": True})])

    response = post(body, as_base64=False)

    answer = json.loads(response["body"])
    assert response["statusCode"] == 207
    rejected = [result for result in answer["results"] if result["status"] == "rejected"]
    assert [result["error"]["fields"][0]["field"] for result in rejected] == ["payload.bad"] * len(storable)
    assert answer["queued"] == 1


def test_sql_looking_strings_are_queued_as_ordinary_text(sender: FakeSender) -> None:
    events = [envelope({"note": text, text: "key"}, source=text[:200] or "x") for text in SQL_LOOKING]
    body = write_json(events)

    response = post(body, as_base64=False)

    assert response["statusCode"] == 202
    assert_answered_well(response, body, sender)


@HOSTILE
@given(text=storable_text, as_base64=st.booleans())
def test_any_storable_string_survives_the_trip(text: str, as_base64: bool, sender: FakeSender) -> None:
    sender.sent.clear()
    body = json.dumps(event_dict(event_type="thing.happened", payload={"s": text}), ensure_ascii=False)

    response = post(body, as_base64=as_base64)

    assert response["statusCode"] == 202
    assert json.loads(sender.sent[0].body)["payload"] == {"s": text}
