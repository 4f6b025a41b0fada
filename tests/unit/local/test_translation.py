"""The local stack reads SAM's own translation: Globals merged as SAM merges them, routes from the API body."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from local.functions import layer_paths, read_functions
from local.routes import find_route, read_routes
from local.template import LocalContext, Resolver, load_template, parse_template
from local.translation import ARTIFACT_BUCKET, TranslationError, artifact_path, is_sam, translate
from tests.conftest import ROOT

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Handler: app.handler
    Layers: [!Ref Shared]
    Environment: {Variables: {TABLE_NAME: !Ref Table, LEVEL: global}}
  HttpApi:
    Auth:
      Authorizers:
        FromGlobals:
          IdentitySource: $request.header.Authorization
          JwtConfiguration: {issuer: https://globals.example, audience: [g]}
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Shared: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/shared/}}
  Extra: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: layers/extra/}}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Own
        Authorizers:
          Own:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {issuer: https://own.example, audience: [o]}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Layers: [!Ref Extra]
      Environment: {Variables: {LEVEL: own}}
      Events:
        ByDefault: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /default, Method: GET}}
        ByGlobals:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /globals, Method: POST, Auth: {Authorizer: FromGlobals}}
"""


def _read(tmp_path: Path) -> tuple[dict[str, object], Resolver]:
    template = parse_template(TEMPLATE)
    return template, Resolver(template, LocalContext(refs={"Table": "LocalTable"}))


def test_globals_lists_are_appended_and_maps_merged_as_sam_does(tmp_path: Path) -> None:
    template, resolver = _read(tmp_path)
    spec = read_functions(template, resolver, tmp_path)["Worker"]

    assert spec.code_uri == (tmp_path / "functions" / "worker").resolve()
    # SAM appends the function's layers to the global ones; a shallow merge kept only the function's.
    assert spec.layers == ((tmp_path / "layers/shared").resolve(), (tmp_path / "layers/extra").resolve())
    assert spec.environment == {"TABLE_NAME": "LocalTable", "LEVEL": "own"}
    assert layer_paths(template, resolver, tmp_path) == list(spec.layers)


def test_an_api_has_the_authorizers_of_globals_and_its_own(tmp_path: Path) -> None:
    template, resolver = _read(tmp_path)
    routes = read_routes(template, resolver, root=tmp_path)

    by_default = find_route(routes, "GET", "/default")
    by_globals = find_route(routes, "POST", "/globals")
    assert by_default is not None
    assert by_globals is not None
    assert by_default[0].authorizer is not None
    assert by_default[0].authorizer.issuer == "https://own.example"
    # Globals.HttpApi's authorizers are merged into the explicit API's (a shallow merge dropped them).
    assert by_globals[0].authorizer is not None
    assert by_globals[0].authorizer.issuer == "https://globals.example"
    assert by_globals[0].authorizer.audience == ("g",)


def test_translation_leaves_the_template_alone_and_maps_folders_back(tmp_path: Path) -> None:
    template = parse_template(TEMPLATE)
    before = copy.deepcopy(template)
    translated = translate(template, tmp_path)

    assert template == before
    assert is_sam(template)
    assert not is_sam(translated)
    code = translated["Resources"]["Worker"]["Properties"]["Code"]
    assert code == {"S3Bucket": ARTIFACT_BUCKET, "S3Key": "functions/worker/"}
    assert artifact_path(code, tmp_path) == (tmp_path / "functions/worker").resolve()
    assert artifact_path({"S3Bucket": "real-bucket", "S3Key": "x.zip"}, tmp_path) is None


def test_a_template_sam_refuses_is_one_error_naming_the_causes(tmp_path: Path) -> None:
    broken = parse_template("Resources:\n  F: {Type: AWS::Serverless::Function, Properties: {CodeUri: f/}}\n")
    with pytest.raises(TranslationError, match=r"\[F\] is invalid.*Runtime and Handler"):
        translate(broken, tmp_path)


def test_the_real_template_translates_with_every_function_and_the_state_machine_inline() -> None:
    template = load_template(ROOT / "template.yaml")
    translated = translate(template, ROOT, {"Stage": "local"})
    resources = translated["Resources"]
    functions = {name for name, body in resources.items() if body["Type"] == "AWS::Lambda::Function"}
    sam = template["Resources"]
    sam_functions = {name for name, body in sam.items() if body["Type"] == "AWS::Serverless::Function"}
    assert functions == sam_functions
    machine = resources["SweepStateMachine"]["Properties"]
    assert "DefinitionString" in machine
    assert "SweepPlanFunctionArn" in machine["DefinitionSubstitutions"]


PLAIN_ROUTES = """
Resources:
  Fn: {Type: AWS::Lambda::Function, Properties: {Handler: app.handler, Code: {ZipFile: x}}}
  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {Name: plain, ProtocolType: HTTP}}
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/${Fn.Arn}/invocations
      PayloadFormatVersion: "2.0"
  Jwt:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      AuthorizerType: JWT
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration: {Issuer: https://plain.example, Audience: [plain-app]}
      Name: jwt
  Closed:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: GET /items/{item_id}
      Target: !Join [/, [integrations, !Ref Integration]]
      AuthorizationType: JWT
      AuthorizerId: !Ref Jwt
      AuthorizationScopes: [items/read]
  Open:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${Integration}"}
"""


def test_routes_written_as_route_resources_are_read_too() -> None:
    template = parse_template(PLAIN_ROUTES)
    routes = read_routes(template, Resolver(template, LocalContext()))

    closed = find_route(routes, "GET", "/items/42")
    fallback = find_route(routes, "POST", "/anything")
    assert closed is not None
    assert closed[1] == {"item_id": "42"}
    assert closed[0].function == "Fn"
    assert closed[0].scopes == ("items/read",)
    assert closed[0].authorizer is not None
    assert (closed[0].authorizer.issuer, closed[0].authorizer.audience) == ("https://plain.example", ("plain-app",))
    assert fallback is not None
    assert fallback[0].route_key == "$default"
    assert fallback[0].authorizer is None
