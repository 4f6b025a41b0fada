"""The HTTP front: API Gateway's part of the local stack (routing, JWT authorizer, payload format 2.0)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
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


# API Gateway's payload limit for HTTP APIs.
MAX_BODY_BYTES = 10 * 1024 * 1024


class BadRequestError(ValueError):
    """The request's framing (Content-Length, chunks) is broken: API Gateway answers 400 and reads no further."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def read_chunked(stream: BufferedIOBase, limit: int = MAX_BODY_BYTES) -> bytes:
    """A `Transfer-Encoding: chunked` body (RFC 9112 section 7.1), extensions and trailers dropped."""
    body = bytearray()
    while True:
        line = stream.readline(1026)
        if not line.endswith(b"\n"):
            raise BadRequestError("chunk size line is missing or too long")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequestError("chunk size is not hexadecimal") from None
        if size < 0 or not size_text.isalnum():
            raise BadRequestError("chunk size is not hexadecimal")
        if size == 0:
            break
        if len(body) + size > limit:
            raise BadRequestError("request body too large", 413)
        chunk = stream.read(size)
        if len(chunk) != size or stream.read(2) != b"\r\n":
            raise BadRequestError("chunk is shorter than its size or not ended by CRLF")
        body += chunk
    while True:  # trailer fields up to the empty line
        line = stream.readline(8192)
        if line in (b"\r\n", b"\n", b""):
            return bytes(body)


def read_body(headers: Message, stream: BufferedIOBase, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body as API Gateway reads it: chunked or Content-Length framed; BadRequestError if neither holds."""
    encodings = [item.strip().lower() for item in ",".join(headers.get_all("transfer-encoding") or []).split(",")]
    encodings = [item for item in encodings if item]
    if encodings:
        if encodings[-1] != "chunked":
            raise BadRequestError("unsupported transfer encoding")
        return read_chunked(stream, limit)
    lengths = {value.strip() for value in headers.get_all("content-length") or []}
    if not lengths:
        return b""
    if len(lengths) != 1 or not next(iter(lengths)).isdigit():
        raise BadRequestError("Content-Length is not a number")
    length = int(next(iter(lengths)))
    if length > limit:
        raise BadRequestError("request body too large", 413)
    body = stream.read(length) if length else b""
    if len(body) != length:
        raise BadRequestError("body is shorter than its Content-Length")
    return body


_STATUS_MESSAGES = {400: "Bad Request", 413: "Request Entity Too Large"}


class _Handler(BaseHTTPRequestHandler):
    """Reads a request, hands it to the Front, writes its answer."""

    protocol_version = "HTTP/1.1"
    server: FrontServer

    def __getattr__(self, name: str) -> Any:
        """Every method goes to the Front (`do_TRACE`, `do_PROPFIND`, ...), which answers 404 where no route is.

        The stdlib answers 501 with an HTML page for a method without a `do_` attribute; API Gateway routes by
        method and path, so a method nothing serves is simply a route that does not exist.
        """
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        try:
            body = read_body(self.headers, self.rfile)
        except BadRequestError as error:
            self.close_connection = True  # the framing is lost: nothing after it can be read as a request
            self._answer(json_response(error.status, {"message": _STATUS_MESSAGES[error.status]}), started)
            return
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
        self._answer(response, started)

    def _answer(self, response: HttpResponse, started: float) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        if not self.server.front.quiet:
            elapsed = (time.monotonic() - started) * 1000
            sys.stderr.write(f"{self.command} {self.path} {response.status} {elapsed:.0f} ms\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: _serve writes one line per request itself."""


class FrontServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to loopback, serving one Front."""

    daemon_threads = True

    def __init__(self, port: int, front: Front) -> None:
        self.front = front
        super().__init__(("127.0.0.1", port), _Handler)
