"""HTTP API routes read from template.yaml, and API Gateway's rules for matching a request to one of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from local.template import Resolver, resources_of_type
from local.translation import as_cloudformation

_PARAM = re.compile(r"^\{([A-Za-z0-9_.\-]+)(\+?)\}$")


@dataclass(frozen=True)
class JwtAuthorizer:
    """A JWT authorizer of an HTTP API (`JwtConfiguration`), with local issuer and audience."""

    name: str
    identity_source: str
    issuer: str
    audience: tuple[str, ...]


@dataclass(frozen=True)
class Route:
    """One route of an HTTP API and the function its integration calls."""

    function: str
    method: str  # upper case, or ANY
    path: str  # as in the template, e.g. /patients/{patient_id} or /files/{proxy+}
    authorizer: JwtAuthorizer | None
    scopes: tuple[str, ...] = ()
    segments: tuple[str, ...] = field(default=(), compare=False)

    @property
    def route_key(self) -> str:
        """The `routeKey` API Gateway puts into the event, e.g. `GET /health`."""
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """Path parameters if this route serves the request, else None."""
        if self.method not in ("ANY", method.upper()):
            return None
        parts = raw_path.split("/")[1:] if raw_path.startswith("/") else []
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            found = _PARAM.match(segment)
            if found and found.group(2):  # {proxy+}: one or more remaining segments
                rest = parts[index:]
                if not rest or rest == [""]:
                    return None
                params[found.group(1)] = unquote("/".join(rest))
                return params
            if index >= len(parts):
                return None
            if found:
                if parts[index] == "":
                    return None
                params[found.group(1)] = unquote(parts[index])
            elif parts[index] != segment:
                return None
        return params if len(parts) == len(self.segments) else None

    def priority(self) -> tuple[int, int, int, int]:
        """Sort key, most specific first: literal segments, then fewer variables, greedy last, ANY last."""
        literals = sum(1 for segment in self.segments if not _PARAM.match(segment))
        greedy = any(segment.endswith("+}") for segment in self.segments)
        return (-literals, int(greedy), -len(self.segments), int(self.method == "ANY"))


def make_route(
    function: str,
    method: str,
    path: str,
    authorizer: JwtAuthorizer | None = None,
    scopes: tuple[str, ...] = (),
) -> Route:
    """Build a route with its path split into segments."""
    segments = tuple(path.split("/")[1:]) if path != "/" else ()
    return Route(function, method.upper(), path, authorizer, scopes, segments)


_ANY_METHOD = "x-amazon-apigateway-any-method"
_REPOSITORY = Path(__file__).resolve().parent.parent  # where a SAM template's relative paths point by default
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The integration URI SAM writes for a Lambda proxy: ...functions/${<Function>.Arn}/invocations
_FUNCTION_IN_URI = re.compile(r"functions/\$\{([A-Za-z0-9]+)\.Arn\}/invocations")


def _authorizers(
    body: Mapping[str, Any], resolver: Resolver, issuer: str | None, audience: tuple[str, ...] | None
) -> dict[str, JwtAuthorizer]:
    """The JWT authorizers of one API body (`components.securitySchemes` with `x-amazon-apigateway-authorizer`)."""
    result = {}
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    for name, scheme in schemes.items():
        spec = scheme.get("x-amazon-apigateway-authorizer") or {}
        if spec.get("type") != "jwt":
            continue  # Lambda authorizers are not part of this product
        jwt_config = spec.get("jwtConfiguration") or {}
        template_audience = jwt_config.get("audience") or []
        result[name] = JwtAuthorizer(
            name=name,
            identity_source=str(spec.get("identitySource", "$request.header.Authorization")),
            issuer=issuer if issuer is not None else str(resolver.resolve(jwt_config.get("issuer", ""))),
            audience=(
                audience if audience is not None else tuple(str(item) for item in resolver.resolve(template_audience))
            ),
        )
    return result


def _integrated_function(operation: Mapping[str, Any]) -> str | None:
    """The logical id of the function an operation's Lambda proxy integration calls."""
    uri = (operation.get("x-amazon-apigateway-integration") or {}).get("uri")
    if isinstance(uri, dict) and "Fn::Sub" in uri:
        text = uri["Fn::Sub"] if isinstance(uri["Fn::Sub"], str) else uri["Fn::Sub"][0]
        found = _FUNCTION_IN_URI.search(str(text))
        return found.group(1) if found else None
    if isinstance(uri, dict) and "Fn::GetAtt" in uri:
        return str(uri["Fn::GetAtt"][0])
    return None


def _api_routes(
    body: Mapping[str, Any], resolver: Resolver, issuer: str | None, audience: tuple[str, ...] | None
) -> list[Route]:
    authorizers = _authorizers(body, resolver, issuer, audience)
    default_security = body.get("security") or []
    routes = []
    for path, operations in (body.get("paths") or {}).items():
        for key, operation in operations.items():
            if key not in (*_METHODS, _ANY_METHOD):
                continue  # path-level parameters and the like
            function = _integrated_function(operation)
            if function is None:
                continue  # an integration other than a function of this template
            security = operation.get("security", default_security) or []
            authorizer, scopes = None, ()
            for requirement in security:
                for name, required_scopes in requirement.items():
                    if name == "NONE":
                        continue
                    if name not in authorizers:
                        raise ValueError(f"{function}: authorizer {name} is not a JWT authorizer of the API")
                    authorizer, scopes = authorizers[name], tuple(required_scopes or ())
            method = "ANY" if key == _ANY_METHOD else key.upper()
            path_key = "$default" if path == "/$default" else path
            routes.append(make_route(function, method, path_key, authorizer, scopes))
    return routes


_NAMED_IN_SUB = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}")


def _referenced(value: Any) -> str | None:
    """The logical id a `Ref`, `Fn::GetAtt`, or the first `${X}` of an `Fn::Sub` / part of an `Fn::Join` names."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((key, argument),) = value.items()
    if key == "Ref":
        return str(argument)
    if key == "Fn::GetAtt":
        return str(argument[0]) if isinstance(argument, list) else str(argument).split(".", 1)[0]
    if key == "Fn::Sub":
        found = _NAMED_IN_SUB.search(str(argument if isinstance(argument, str) else argument[0]))
        return found.group(1) if found else None
    if key == "Fn::Join":
        return next((name for part in argument[1] if (name := _referenced(part)) is not None), None)
    return None


def _route_resources(
    cloudformation: Mapping[str, Any], resolver: Resolver, issuer: str | None, audience: tuple[str, ...] | None
) -> list[Route]:
    """Routes declared as `AWS::ApiGatewayV2::Route` resources (an API without a Body), Lambda proxies only."""
    resources = cloudformation.get("Resources") or {}
    routes = []
    for logical_id, resource in resources_of_type(cloudformation, "AWS::ApiGatewayV2::Route").items():
        properties = resource.get("Properties") or {}
        integration = resources.get(_referenced(properties.get("Target")) or "") or {}
        if integration.get("Type") != "AWS::ApiGatewayV2::Integration":
            continue
        function = _referenced((integration.get("Properties") or {}).get("IntegrationUri"))
        if function is None or (resources.get(function) or {}).get("Type") != "AWS::Lambda::Function":
            continue  # an integration other than a function of this template
        authorizer = None
        if properties.get("AuthorizationType") == "JWT":
            authorizer_id = _referenced(properties.get("AuthorizerId")) or ""
            spec = (resources.get(authorizer_id) or {}).get("Properties") or {}
            if spec.get("AuthorizerType") != "JWT":
                raise ValueError(f"{logical_id}: authorizer {authorizer_id} is not a JWT authorizer")
            jwt_config = spec.get("JwtConfiguration") or {}
            identity = spec.get("IdentitySource") or ["$request.header.Authorization"]
            authorizer = JwtAuthorizer(
                name=authorizer_id,
                identity_source=str(identity[0]),
                issuer=issuer if issuer is not None else str(resolver.resolve(jwt_config.get("Issuer", ""))),
                audience=(
                    audience
                    if audience is not None
                    else tuple(str(item) for item in resolver.resolve(jwt_config.get("Audience") or []))
                ),
            )
        scopes = tuple(str(scope) for scope in resolver.resolve(properties.get("AuthorizationScopes") or []))
        route_key = str(resolver.resolve(properties.get("RouteKey", "")))
        method, _, path = ("ANY", "", "$default") if route_key == "$default" else route_key.partition(" ")
        routes.append(make_route(function, method, path, authorizer, scopes))
    return routes


def read_routes(
    template: Mapping[str, Any],
    resolver: Resolver,
    issuer: str | None = None,
    audience: tuple[str, ...] | None = None,
    root: Path | None = None,
) -> list[Route]:
    """Every route of every HTTP API in the translated template, most specific first.

    SAM's translation writes each API's routes, integrations and authorizers into the `Body` of its
    `AWS::ApiGatewayV2::Api` (the OpenAPI document API Gateway imports); routes written as
    `AWS::ApiGatewayV2::Route` resources are read too. A SAM template is translated first.
    The issuer and audience of JWT authorizers are replaced by the local ones when given: locally the tokens
    come from `POST /_local/token`, not from Cognito.
    """
    cloudformation = as_cloudformation(template, root or _REPOSITORY, resolver.context.parameters)
    routes = []
    for api in resources_of_type(cloudformation, "AWS::ApiGatewayV2::Api").values():
        body = (api.get("Properties") or {}).get("Body")
        if isinstance(body, dict):
            routes.extend(_api_routes(body, resolver, issuer, audience))
    routes.extend(_route_resources(cloudformation, resolver, issuer, audience))
    return sorted(routes, key=Route.priority)


def find_route(routes: list[Route], method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway would pick for a request, with its path parameters."""
    for route in routes:
        if route.path == "$default":
            continue
        params = route.match(method, raw_path)
        if params is not None:
            return route, params
    for route in routes:
        if route.path == "$default":
            return route, {}
    return None
