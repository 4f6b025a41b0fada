"""Payload format 2.0: the event built for a request, the answer read back, the Lambda context."""

from __future__ import annotations

import base64
import json

import pytest

from local.events import HttpRequest, LambdaContext, build_event, to_http_response

NOW = 1_700_000_000.123


def _request(**overrides: object) -> HttpRequest:
    values: dict[str, object] = {
        "method": "post",
        "raw_path": "/patients/p%201/results",
        "raw_query": "a=1&a=2&b=x%20y&empty=",
        "headers": [
            ("Host", "127.0.0.1:3000"),
            ("Content-Type", "application/json"),
            ("User-Agent", "app/1.0"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("Cookie", "s=1; t=2"),
        ],
        "body": b'{"item": "cbc"}',
        "source_ip": "127.0.0.1",
    }
    values.update(overrides)
    return HttpRequest(**values)  # type: ignore[arg-type]


def test_the_event_has_every_field_api_gateway_sends() -> None:
    event = build_event(
        _request(),
        "POST /patients/{patient_id}/results",
        {"patient_id": "p 1"},
        claims={"sub": "u1", "cognito:groups": "[clinicians]"},
        scopes=None,
        now=NOW,
    )

    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /patients/{patient_id}/results"
    assert event["rawPath"] == "/patients/p%201/results"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y&empty="
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}
    assert event["pathParameters"] == {"patient_id": "p 1"}
    assert event["body"] == '{"item": "cbc"}'
    assert event["isBase64Encoded"] is False
    headers = event["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["x-multi"] == "one,two"
    assert "cookie" not in headers
    assert all(name == name.lower() for name in headers)
    assert headers["x-forwarded-for"] == "127.0.0.1"
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/patients/p%201/results",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "app/1.0",
    }
    assert context["stage"] == "$default"
    assert context["routeKey"] == event["routeKey"]
    assert context["timeEpoch"] == 1_700_000_000_123
    assert context["time"] == "14/Nov/2023:22:13:20 +0000"
    assert context["requestId"]
    assert context["authorizer"] == {"jwt": {"claims": {"sub": "u1", "cognito:groups": "[clinicians]"}, "scopes": None}}


def test_a_request_without_query_path_parameters_body_or_auth_leaves_them_out() -> None:
    event = build_event(_request(method="GET", raw_query="", body=b"", headers=[]), "GET /health", {}, now=NOW)

    for absent in ("queryStringParameters", "pathParameters", "body", "cookies"):
        assert absent not in event
    assert "authorizer" not in event["requestContext"]
    assert event["isBase64Encoded"] is False


def test_a_binary_body_is_base64_encoded() -> None:
    payload = bytes(range(256))
    event = build_event(
        _request(headers=[("content-type", "application/octet-stream")], body=payload), "POST /x", {}, now=NOW
    )

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_a_full_response_is_written_as_given() -> None:
    response = to_http_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/problem+json", "Location": "/patients/p1"},
            "cookies": ["a=1; Secure"],
            "body": '{"patient_id": "p1"}',
        }
    )

    assert response.status == 201
    assert ("Location", "/patients/p1") in response.headers
    assert ("set-cookie", "a=1; Secure") in response.headers
    assert response.body == b'{"patient_id": "p1"}'


def test_a_base64_response_body_is_decoded() -> None:
    response = to_http_response(
        {"statusCode": 200, "headers": {"content-type": "text/calendar"}, "body": "QkVHSU4=", "isBase64Encoded": True}
    )

    assert response.body == b"BEGIN"


@pytest.mark.parametrize("result", [{"ok": True}, ["a", 1], "text", 7])
def test_the_simple_format_is_a_json_200(result: object) -> None:
    response = to_http_response(result)

    assert response.status == 200
    assert ("content-type", "application/json") in response.headers
    assert json.loads(response.body) == result


def test_a_status_only_response_has_an_empty_body() -> None:
    response = to_http_response({"statusCode": 204})

    assert (response.status, response.body) == (204, b"")


def test_the_lambda_context_looks_like_the_runtime_one() -> None:
    context = LambdaContext(function_name="HealthFunction", memory_limit_in_mb=256, timeout_seconds=5)

    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:HealthFunction"
    assert context.memory_limit_in_mb == 256
    assert context.aws_request_id
    assert 4000 < context.get_remaining_time_in_millis() <= 5000
    assert LambdaContext("f", 128, timeout_seconds=0).get_remaining_time_in_millis() == 0
