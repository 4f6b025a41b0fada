"""HTTP API routes read from template.yaml, and API Gateway's rules for matching a request to one of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from local.template import Resolver, resources_of_type

IMPLICIT_API = "ServerlessHttpApi"
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
    """One `HttpApi` event of one function."""

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


def _api_settings(template: Mapping[str, Any], resolver: Resolver, api_id: str) -> dict[str, Any]:
    """Properties of an HTTP API: an explicit `AWS::Serverless::HttpApi` merged over Globals.HttpApi."""
    globals_api = resolver.resolve((template.get("Globals") or {}).get("HttpApi") or {})
    resources = template.get("Resources") or {}
    explicit = resources.get(api_id, {}) if api_id != IMPLICIT_API else {}
    return {**globals_api, **resolver.resolve(explicit.get("Properties") or {})}


def _authorizers(
    settings: Mapping[str, Any], issuer: str | None, audience: tuple[str, ...] | None
) -> dict[str, JwtAuthorizer]:
    result = {}
    for name, spec in ((settings.get("Auth") or {}).get("Authorizers") or {}).items():
        jwt_config = spec.get("JwtConfiguration")
        if jwt_config is None:
            continue  # Lambda authorizers are not part of this product
        identity = spec.get("IdentitySource", "$request.header.Authorization")
        template_audience = jwt_config.get("audience") or jwt_config.get("Audience") or []
        result[name] = JwtAuthorizer(
            name=name,
            identity_source=str(identity),
            issuer=issuer if issuer is not None else str(jwt_config.get("issuer", "")),
            audience=audience if audience is not None else tuple(str(item) for item in template_audience),
        )
    return result


def read_routes(
    template: Mapping[str, Any],
    resolver: Resolver,
    issuer: str | None = None,
    audience: tuple[str, ...] | None = None,
) -> list[Route]:
    """Every HttpApi event of every `AWS::Serverless::Function`, most specific first.

    The issuer and audience of JWT authorizers are replaced by the local ones when given: locally the tokens
    come from `POST /_local/token`, not from Cognito.
    """
    routes = []
    for function, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event in events.values():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties") or {}
            api_ref = properties.get("ApiId")
            api_id = api_ref["Ref"] if isinstance(api_ref, dict) and "Ref" in api_ref else IMPLICIT_API
            settings = _api_settings(template, resolver, api_id)
            authorizers = _authorizers(settings, issuer, audience)
            properties = resolver.resolve(properties)
            auth = properties.get("Auth") or {}
            name = auth.get("Authorizer") or (settings.get("Auth") or {}).get("DefaultAuthorizer")
            authorizer = None
            if name and name != "NONE":
                if name not in authorizers:
                    raise ValueError(f"{function}: authorizer {name} is not a JWT authorizer of {api_id}")
                authorizer = authorizers[name]
            scopes = tuple(auth.get("AuthorizationScopes") or ())
            path = properties.get("Path", "$default")
            method = properties.get("Method", "ANY")
            routes.append(make_route(function, method, path, authorizer, scopes))
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
