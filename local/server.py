"""The HTTP front: API Gateway's part of the local stack (routing, JWT authorizer, payload format 2.0)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from local.events import HttpRequest, HttpResponse, build_event, json_response, query_parameters, to_http_response
from local.functions import FunctionRunner
from local.routes import Route, find_route
from local.tokens import AuthError, SigningKey, flatten_claims, token_from_request, token_scopes, verify_token

LocalHandler = Callable[[HttpRequest], HttpResponse]


class LocalRoutes:
    """Local-only routes (`/_local/...`), matched before the template's routes.

    Parts of the product that need a local door (tokens, notices, later the sweep) register one here.
    """

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], LocalHandler] = {}

    def add(self, method: str, path: str, handler: LocalHandler) -> None:
        """Serve `method path` with handler; a second registration of the same route is a mistake."""
        key = (method.upper(), path)
        if key in self._routes:
            raise ValueError(f"local route {method} {path} is already registered")
        self._routes[key] = handler

    def find(self, method: str, path: str) -> LocalHandler | None:
        """The handler of an exact method and path, if any."""
        return self._routes.get((method.upper(), path))

    def paths(self) -> list[str]:
        """Registered routes as `METHOD path`, for the start-up banner."""
        return [f"{method} {path}" for method, path in sorted(self._routes, key=lambda item: item[1])]


@dataclass
class Front:
    """Everything the front needs to answer a request."""

    routes: list[Route]
    runner: FunctionRunner
    key: SigningKey
    local_routes: LocalRoutes = field(default_factory=LocalRoutes)
    account_id: str = "123456789012"
    quiet: bool = False

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request as API Gateway and Lambda would together."""
        local = self.local_routes.find(request.method, request.raw_path)
        if local is not None:
            return local(request)
        found = find_route(self.routes, request.method, request.raw_path)
        if found is None:
            return json_response(404, {"message": "Not Found"})
        route, path_parameters = found
        claims: dict[str, str] | None = None
        scopes: list[str] | None = None
        if route.authorizer is not None:
            try:
                headers = {name.lower(): value for name, value in request.headers}
                token = token_from_request(
                    route.authorizer.identity_source, headers, query_parameters(request.raw_query)
                )
                raw_claims = verify_token(
                    token, self.key, route.authorizer.issuer, route.authorizer.audience, route.scopes
                )
            except AuthError as error:
                extra = []
                if error.status == 401:
                    extra = [
                        (
                            "www-authenticate",
                            f'Bearer scope="" error="invalid_token" error_description="{error.description}"',
                        )
                    ]
                return json_response(error.status, {"message": error.message}, extra)
            claims = flatten_claims(raw_claims)
            scopes = token_scopes(raw_claims)
        event = build_event(
            request, route.route_key, path_parameters, claims=claims, scopes=scopes, account_id=self.account_id
        )
        try:
            result = self.runner.invoke(route.function, event)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return json_response(500, {"message": "Internal Server Error"})
        try:
            return to_http_response(result)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return json_response(500, {"message": "Internal Server Error"})


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, hands it to the Front, writes its answer."""

    protocol_version = "HTTP/1.1"
    server: FrontServer

    def _serve(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = HttpRequest(
            method=self.command,
            raw_path=parts.path or "/",
            raw_query=parts.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        try:
            response = self.server.front.handle(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"message": "Internal Server Error"})
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        if not self.server.front.quiet:
            elapsed = (time.monotonic() - started) * 1000
            sys.stderr.write(f"{self.command} {self.path} {response.status} {elapsed:.0f} ms\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815 - stdlib names

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: _serve writes one line per request itself."""


class FrontServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to loopback, serving one Front."""

    daemon_threads = True

    def __init__(self, port: int, front: Front) -> None:
        self.front = front
        super().__init__(("127.0.0.1", port), _Handler)
