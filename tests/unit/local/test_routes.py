"""Routes read from templates (inline ones and the real one) and API Gateway's path matching."""

from __future__ import annotations

import pytest

from local.routes import Route, find_route, make_route, read_routes
from local.template import LocalContext, Resolver, load_template, parse_template
from tests.conftest import ROOT

TEMPLATE = """
Globals:
  Function: {Runtime: python3.13, Handler: app.handler}
  HttpApi:
    Auth:
      DefaultAuthorizer: Jwt
      Authorizers:
        Jwt:
          IdentitySource: $request.header.Authorization
          JwtConfiguration:
            issuer: !Sub https://cognito-idp.${AWS::Region}.amazonaws.com/${Pool}
            audience: [!Ref Client]
Resources:
  Pool: {Type: AWS::Cognito::UserPool}
  Client: {Type: AWS::Cognito::UserPoolClient}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Explicit
        Authorizers:
          Explicit:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {issuer: https://issuer.example, audience: [app]}
  Patients:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/patients/
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/patients/{patient_id}", Method: get}}
        Me: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /patients/me, Method: GET}}
        Any: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/patients/{patient_id}/{proxy+}", Method: ANY}}
        Admin:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Path: /admin
            Method: POST
            Auth: {Authorizer: Explicit, AuthorizationScopes: [admin/write]}
  Docs:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/docs/
      Events:
        Open: {Type: HttpApi, Properties: {Path: /docs, Method: GET, Auth: {Authorizer: NONE}}}
        Implicit: {Type: HttpApi, Properties: {Path: /implicit, Method: GET}}
        Queue: {Type: SQS, Properties: {Queue: arn}}
"""


@pytest.fixture
def routes() -> list[Route]:
    template = parse_template(TEMPLATE)
    return read_routes(template, Resolver(template, LocalContext()))


def test_every_http_api_event_is_a_route(routes: list[Route]) -> None:
    assert sorted(route.route_key for route in routes) == [
        "ANY /patients/{patient_id}/{proxy+}",
        "GET /docs",
        "GET /implicit",
        "GET /patients/me",
        "GET /patients/{patient_id}",
        "POST /admin",
    ]


def test_authorizers_come_from_the_api_the_event_names(routes: list[Route]) -> None:
    by_key = {route.route_key: route for route in routes}
    explicit = by_key["GET /patients/{patient_id}"].authorizer
    implicit = by_key["GET /implicit"].authorizer

    assert explicit is not None
    assert (explicit.name, explicit.audience) == ("Explicit", ("app",))
    assert implicit is not None
    assert (implicit.name, implicit.issuer) == ("Jwt", "https://cognito-idp.us-east-1.amazonaws.com/Pool")
    assert by_key["GET /docs"].authorizer is None
    assert by_key["POST /admin"].scopes == ("admin/write",)


def test_local_issuer_and_audience_replace_the_template_ones() -> None:
    template = parse_template(TEMPLATE)
    routes = read_routes(template, Resolver(template, LocalContext()), issuer="local", audience=("client",))

    assert {(route.authorizer.issuer, route.authorizer.audience) for route in routes if route.authorizer} == {
        ("local", ("client",))
    }


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/patients/me", "GET /patients/me", {}),
        ("GET", "/patients/p-1", "GET /patients/{patient_id}", {"patient_id": "p-1"}),
        ("GET", "/patients/a%20b", "GET /patients/{patient_id}", {"patient_id": "a b"}),
        ("PATCH", "/patients/p-1/x", "ANY /patients/{patient_id}/{proxy+}", {"patient_id": "p-1", "proxy": "x"}),
        (
            "DELETE",
            "/patients/p-1/x/y/z",
            "ANY /patients/{patient_id}/{proxy+}",
            {"patient_id": "p-1", "proxy": "x/y/z"},
        ),
        ("get", "/docs", "GET /docs", {}),
    ],
)
def test_the_most_specific_route_serves_a_request(
    routes: list[Route], method: str, path: str, route_key: str, params: dict[str, str]
) -> None:
    found = find_route(routes, method, path)

    assert found is not None
    assert (found[0].route_key, found[1]) == (route_key, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/patients/p-1"), ("GET", "/patients"), ("GET", "/patients/"), ("GET", "/patients/p-1/"), ("GET", "/")],
)
def test_requests_no_route_serves_find_nothing(routes: list[Route], method: str, path: str) -> None:
    assert find_route(routes, method, path) is None


def test_greedy_path_needs_at_least_one_segment() -> None:
    route = make_route("F", "ANY", "/{proxy+}")

    assert route.match("GET", "/") is None
    assert route.match("GET", "/a/b") == {"proxy": "a/b"}


def test_default_route_catches_what_nothing_else_serves() -> None:
    routes = [make_route("Fallback", "ANY", "$default"), make_route("Health", "GET", "/health")]

    health = find_route(routes, "GET", "/health")
    fallback = find_route(routes, "PUT", "/anything")

    assert health is not None
    assert health[0].function == "Health"
    assert fallback is not None
    assert fallback[0].route_key == "$default"


@pytest.mark.skipif(not (ROOT / "template.yaml").exists(), reason="template.yaml not written yet")
def test_the_real_template_serves_health_behind_the_jwt_authorizer() -> None:
    template = load_template(ROOT / "template.yaml")
    routes = read_routes(template, Resolver(template, LocalContext()))

    found = find_route(routes, "GET", "/health")
    assert found is not None
    route, _ = found
    assert route.function == "HealthFunction"
    assert route.authorizer is not None
    assert route.authorizer.identity_source == "$request.header.Authorization"
