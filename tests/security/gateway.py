"""API Gateway in process: an HTTP request becomes the HTTP API v2 event the real handler receives.

The routes come from template.yaml (as on the local stack); the caller's claims are passed in as the JWT
authorizer would after verifying a token. Under moto this runs every handler with its real code and tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from local.events import HttpRequest, build_event, to_http_response
from local.functions import read_functions
from local.routes import Route, find_route, read_routes
from local.template import LocalContext, Resolver, load_template
from tests.conftest import ROOT
from tests.functional.api.conftest import load_function
from tests.functional.conftest import FakeLambdaContext


@dataclass(frozen=True)
class Answer:
    """What the client receives."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)


@cache
def _routes() -> tuple[list[Route], dict[str, str]]:
    template = load_template(ROOT / "template.yaml")
    resolver = Resolver(template, LocalContext(region="eu-west-1"))
    functions = {logical: spec.code_uri.name for logical, spec in read_functions(template, resolver, ROOT).items()}
    return read_routes(template, resolver), functions


def is_public(method: str, path: str) -> bool:
    """Whether the route serving this request has no authorizer in template.yaml (the API's documentation)."""
    found = find_route(_routes()[0], method, urlsplit(path).path)
    return found is not None and found[0].authorizer is None


def send(
    method: str,
    url: str,
    *,
    claims: dict[str, str] | None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Answer:
    """One request through routing and the handler; ``url`` is a path with its query (percent-encoded)."""
    parts = urlsplit(url)
    routes, functions = _routes()
    found = find_route(routes, method, parts.path)
    if found is None:
        return Answer(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
    route, path_parameters = found
    request = HttpRequest(method.upper(), parts.path, parts.query, list((headers or {}).items()), body)
    event = build_event(request, route.route_key, path_parameters, claims=claims)
    result = load_function(functions[route.function]).handler(event, FakeLambdaContext())
    response = to_http_response(result)
    answer_headers = {name.lower(): value for name, value in response.headers}
    return Answer(response.status, answer_headers, response.body)
