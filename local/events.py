"""HTTP API payload format 2.0: the event API Gateway builds for a request, and how it reads the answer.

Handlers are tested against these shapes, so they follow what API Gateway sends, field by field.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/problem+json")


@dataclass(frozen=True)
class HttpRequest:
    """A request as received by the HTTP front, before API Gateway's rewriting."""

    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"


@dataclass
class HttpResponse:
    """What the HTTP front writes back."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def _joined_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def query_parameters(raw_query: str) -> dict[str, str]:
    """`queryStringParameters`: decoded, duplicates joined with commas."""
    joined: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def build_event(
    request: HttpRequest,
    route_key: str,
    path_parameters: Mapping[str, str],
    *,
    claims: Mapping[str, str] | None = None,
    scopes: list[str] | None = None,
    account_id: str = "123456789012",
    api_id: str = "local",
    now: float | None = None,
) -> dict[str, Any]:
    """The version 2.0 event of one request, with the JWT authorizer's claims when the route has one."""
    moment = time.time() if now is None else now
    pairs = [(name, value) for name, value in request.headers if name.lower() != "cookie"]
    cookie_values = [value for name, value in request.headers if name.lower() == "cookie"]
    headers = _joined_headers(pairs)
    port = headers.get("host", "").rpartition(":")[2] if ":" in headers.get("host", "") else "80"
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers.setdefault("x-forwarded-port", port)
    headers.setdefault("x-forwarded-proto", "http")
    domain = headers.get("host", "localhost").split(":")[0]
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    cookies = [part.strip() for value in cookie_values for part in value.split(";") if part.strip()]
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.raw_query:
        event["queryStringParameters"] = query_parameters(request.raw_query)
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": request.method.upper(),
            "path": request.raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": datetime.fromtimestamp(moment, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": scopes}}
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        if _is_text(headers.get("content-type", "")):
            try:
                event["body"] = request.body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def to_http_response(result: Any) -> HttpResponse:
    """Read a handler's answer as HTTP API does for payload format 2.0.

    A dict with `statusCode` is a full response; anything else (the simple format) is the JSON body of a 200.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode("utf-8")
        return HttpResponse(200, [("content-type", "application/json")], body)
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(str(raw_body))
    else:
        body = (raw_body if isinstance(raw_body, str) else json.dumps(raw_body)).encode("utf-8")
    if body and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    return HttpResponse(int(result["statusCode"]), headers, body)


def json_response(status: int, payload: Any, extra_headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    """A JSON answer of the front itself (local routes, API Gateway's own errors)."""
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, [("content-type", "application/json"), *extra_headers], body)


@dataclass
class LambdaContext:
    """The context object the Lambda runtime passes as a handler's second argument."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    region: str = "us-east-1"
    account_id: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """ARN the function was invoked with."""
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        """CloudWatch log group the function would write to."""
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        """Log stream of this (local) execution environment."""
        return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (never negative)."""
        left = self.timeout_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))
