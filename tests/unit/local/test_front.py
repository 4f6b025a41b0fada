"""The HTTP front on small inline templates: routing, the authorizer, handlers loaded per function."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from local.events import HttpRequest, HttpResponse, json_response
from local.functions import FunctionRunner, read_functions
from local.routes import read_routes
from local.server import Front, LocalRoutes
from local.template import LocalContext, Resolver, parse_template
from local.tokens import LOCAL_CLIENT_ID, LOCAL_ISSUER, SigningKey, issue_token

TEMPLATE = """
Globals:
  Function:
    Runtime: python3.13
    Handler: app.handler
    MemorySize: 256
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        SHARED: from-globals
  HttpApi:
    Auth:
      DefaultAuthorizer: Jwt
      Authorizers:
        Jwt:
          IdentitySource: $request.header.Authorization
          JwtConfiguration: {issuer: https://example.invalid, audience: [x]}
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Environment: {Variables: {OWN: echo}}
      Events:
        Get: {Type: HttpApi, Properties: {Path: "/echo/{name}", Method: GET}}
  Open:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/open/
      Timeout: 7
      Events:
        Get: {Type: HttpApi, Properties: {Path: /open, Method: GET, Auth: {Authorizer: NONE}}}
        Boom: {Type: HttpApi, Properties: {Path: /boom, Method: GET, Auth: {Authorizer: NONE}}}
"""

ECHO = """
import os

MODULE_TABLE = os.environ.get("TABLE_NAME")

def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": __import__("json").dumps({
            "who": "echo",
            "event": event,
            "env": {name: os.environ.get(name) for name in ("TABLE_NAME", "SHARED", "OWN")},
            "module_table": MODULE_TABLE,
            "context": [context.function_name, context.memory_limit_in_mb, context.invoked_function_arn],
        }),
    }
"""

OPEN = """
import os

def handler(event, context):
    if event["rawPath"] == "/boom":
        raise RuntimeError("broken")
    return {"who": "open", "own": os.environ.get("OWN"), "remaining": context.get_remaining_time_in_millis()}
"""


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def front(tmp_path: Path, key: SigningKey) -> Front:
    for name, code in (("echo", ECHO), ("open", OPEN)):
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(textwrap.dedent(code))
    template = parse_template(TEMPLATE)
    resolver = Resolver(template, LocalContext(refs={"Table": "LocalTable"}))
    runner = FunctionRunner(read_functions(template, resolver, tmp_path), {"AWS_REGION": "us-east-1"})
    routes = read_routes(template, resolver, issuer=LOCAL_ISSUER, audience=(LOCAL_CLIENT_ID,))
    return Front(routes=routes, runner=runner, key=key, quiet=True)


def _get(front: Front, path: str, token: str | None = None, query: str = "") -> HttpResponse:
    headers = [("Host", "127.0.0.1:3000")]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    return front.handle(HttpRequest("GET", path, query, headers, b""))


def test_an_authorised_route_gets_the_flattened_claims(front: Front, key: SigningKey) -> None:
    token = issue_token(key, "clinicians", sub="s-1", clinic_id="c-9")

    response = _get(front, "/echo/ann", token, query="x=1")

    assert response.status == 200
    body = json.loads(response.body)
    event = body["event"]
    assert event["pathParameters"] == {"name": "ann"}
    assert event["routeKey"] == "GET /echo/{name}"
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "s-1"
    assert claims["cognito:groups"] == "[clinicians]"
    assert claims["custom:clinic_id"] == "c-9"
    assert body["context"] == ["Echo", 256, "arn:aws:lambda:us-east-1:123456789012:function:Echo"]


def test_each_function_sees_globals_and_its_own_variables(front: Front, key: SigningKey) -> None:
    body = json.loads(_get(front, "/echo/a", issue_token(key, "admins")).body)

    assert body["env"] == {"TABLE_NAME": "LocalTable", "SHARED": "from-globals", "OWN": "echo"}
    assert body["module_table"] == "LocalTable"
    assert json.loads(_get(front, "/open").body)["own"] is None


def test_two_app_py_files_are_two_modules(front: Front, key: SigningKey) -> None:
    assert json.loads(_get(front, "/echo/a", issue_token(key, "admins")).body)["who"] == "echo"
    assert json.loads(_get(front, "/open").body)["who"] == "open"


def test_a_route_with_authorizer_none_skips_auth_and_the_simple_format_is_json(front: Front) -> None:
    response = _get(front, "/open")

    assert response.status == 200
    body = json.loads(response.body)
    assert body["who"] == "open"
    assert 0 < body["remaining"] <= 7000


@pytest.mark.parametrize("token", [None, "garbage", "a.b.c"])
def test_an_authorised_route_without_a_good_token_is_401(front: Front, token: str | None) -> None:
    response = _get(front, "/echo/ann", token)

    assert response.status == 401
    assert json.loads(response.body) == {"message": "Unauthorized"}
    assert any(name == "www-authenticate" for name, _ in response.headers)


def test_a_token_from_another_issuer_is_401(front: Front, key: SigningKey) -> None:
    token = issue_token(key, "admins", issuer="https://cognito-idp.us-east-1.amazonaws.com/real-pool")

    assert _get(front, "/echo/ann", token).status == 401


def test_a_failing_handler_is_a_500_without_details(front: Front, capsys: pytest.CaptureFixture[str]) -> None:
    response = _get(front, "/boom")

    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal Server Error"}
    assert "RuntimeError: broken" in capsys.readouterr().err


def test_an_unknown_route_is_404(front: Front) -> None:
    response = _get(front, "/nowhere")

    assert (response.status, json.loads(response.body)) == (404, {"message": "Not Found"})


def test_local_routes_come_first_and_register_once(front: Front) -> None:
    def hello(_request: HttpRequest) -> HttpResponse:
        return json_response(200, {"hello": True})

    front.local_routes.add("POST", "/_local/hello", hello)

    response = front.handle(HttpRequest("POST", "/_local/hello", "", [], b""))
    assert json.loads(response.body) == {"hello": True}
    assert front.handle(HttpRequest("GET", "/_local/hello", "", [], b"")).status == 404
    with pytest.raises(ValueError, match="already registered"):
        front.local_routes.add("post", "/_local/hello", hello)


def test_local_routes_list_themselves() -> None:
    routes = LocalRoutes()
    routes.add("GET", "/_local/b", lambda _request: json_response(200, {}))
    routes.add("POST", "/_local/a", lambda _request: json_response(200, {}))

    assert routes.paths() == ["POST /_local/a", "GET /_local/b"]
