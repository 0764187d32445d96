"""HTTP requests as Lambda Function URL events (payload 2.0), and handler answers as HTTP responses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

from sluice_local.function_url import HttpAnswer, function_url_event, http_answer

NOW = datetime(2026, 11, 26, 12, 30, 5, tzinfo=UTC)


def test_a_json_post_becomes_a_function_url_event():
    event = function_url_event(
        method="POST",
        target="/events?dry=1&tag=a&tag=b",
        headers=[
            ("Content-Type", "application/json"),
            ("User-Agent", "curl/8"),
            ("X-Tag", "one"),
            ("X-Tag", "two"),
            ("Cookie", "a=1; b=2"),
        ],
        body=b'{"n": 1}',
        source_ip="127.0.0.1",
        region="us-east-1",
        now=NOW,
    )

    request_id = event["requestContext"].pop("requestId")
    assert len(request_id) == 36
    assert event == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/events",
        "rawQueryString": "dry=1&tag=a&tag=b",
        "headers": {"content-type": "application/json", "user-agent": "curl/8", "x-tag": "one,two"},
        "cookies": ["a=1", "b=2"],
        "queryStringParameters": {"dry": "1", "tag": "a,b"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "local.lambda-url.us-east-1.on.aws",
            "domainPrefix": "local",
            "http": {
                "method": "POST",
                "path": "/events",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "curl/8",
            },
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:12:30:05 +0000",
            "timeEpoch": 1795696205000,
        },
        "body": '{"n": 1}',
        "isBase64Encoded": False,
    }


def test_the_event_parses_with_powertools_function_url_model():
    event = function_url_event(
        method="GET", target="/", headers=[("User-Agent", "x")], body=b"", source_ip="127.0.0.1", region="eu-west-1"
    )

    parsed = LambdaFunctionUrlModel.model_validate(event)

    assert parsed.requestContext.http.method == "GET"
    assert parsed.body is None
    assert parsed.isBase64Encoded is False


def test_a_binary_body_is_base64_encoded():
    event = function_url_event(
        method="POST",
        target="/",
        headers=[("Content-Type", "application/octet-stream")],
        body=b"\x00\xff",
        source_ip="127.0.0.1",
        region="us-east-1",
    )

    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b"\x00\xff").decode(), True)


def test_a_proxy_answer_keeps_status_headers_cookies_and_body():
    answer = http_answer(
        {
            "statusCode": 207,
            "headers": {"Content-Type": "application/json", "X-Request-Id": "r-1"},
            "cookies": ["session=1"],
            "body": '{"accepted": 1}',
            "isBase64Encoded": False,
        }
    )

    assert answer == HttpAnswer(
        207,
        (("content-type", "application/json"), ("x-request-id", "r-1"), ("set-cookie", "session=1")),
        b'{"accepted": 1}',
    )


def test_a_base64_answer_is_decoded():
    answer = http_answer({"statusCode": 200, "body": base64.b64encode(b"\x01\x02").decode(), "isBase64Encoded": True})

    assert answer.body == b"\x01\x02"


def test_an_answer_without_status_code_is_a_200_with_the_json():
    answer = http_answer({"accepted": 3})

    assert answer == HttpAnswer(200, (("content-type", "application/json"),), json.dumps({"accepted": 3}).encode())


def test_a_text_body_that_is_not_utf8_is_passed_on_base64_encoded():
    event = function_url_event(
        method="POST",
        target="/events",
        headers=[("Content-Type", "application/json")],
        body=b'{"x": "\xc3\x28"}',
        source_ip="127.0.0.1",
        region="us-east-1",
    )

    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b'{"x": "\xc3\x28"}').decode(), True)


def test_a_request_without_a_body_has_no_body_field():
    event = function_url_event(
        method="POST", target="/events", headers=[], body=b"", source_ip="127.0.0.1", region="us-east-1"
    )

    assert "body" not in event
    assert event["isBase64Encoded"] is False
