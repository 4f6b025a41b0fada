"""The clinician console (console/) served at /console/ by the local stack, as CloudFront serves it from S3 on AWS.

Every file of the folder is a `GET` local route (read at each request, so an edited file shows on reload; a new
file needs a restart). `/console/config.json` is not a file: it tells the page to sign in through
`/_local/token` and to call the API on the same origin. On AWS the deploy uploads a config.json naming the
Cognito hosted UI and the API's address instead (README "Clinician console").
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING

from local.events import HttpRequest, HttpResponse
from local.server import LocalHandler, LocalRoutes

if TYPE_CHECKING:
    from local.stack import LocalStack

PREFIX = "/console/"
FOLDER = Path(__file__).resolve().parent.parent / "console"
CONFIG_PATH = PREFIX + "config.json"

# What CloudFront's response headers policy sends on AWS (template.yaml ConsoleHeadersPolicy), locally the same.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-cache"),
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


def content_type(path: Path) -> str:
    """The type a browser needs to run the file (ES modules refuse anything but a JavaScript type)."""
    known = _TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def local_config() -> dict[str, str]:
    """The console's config on the local stack: sign in through /_local/token, API on the same origin."""
    return {"auth": "local", "api_base": ""}


def _file_response(path: Path) -> HttpResponse:
    return HttpResponse(
        status=200, headers=[("content-type", content_type(path)), *SECURITY_HEADERS], body=path.read_bytes()
    )


def files(folder: Path = FOLDER) -> dict[str, Path]:
    """URL path -> file, for every file of the console folder (index.html also at /console/)."""
    served: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            served[PREFIX + path.relative_to(folder).as_posix()] = path
    if PREFIX + "index.html" in served:
        served[PREFIX] = served[PREFIX + "index.html"]
    served.pop(CONFIG_PATH, None)  # the deployed config is uploaded, never taken from the folder locally
    return served


def register(routes: LocalRoutes, _stack: LocalStack) -> None:
    """Add `GET /console/...` for each file, `GET /console` (a redirect) and `GET /console/config.json`."""

    def serve(path: Path) -> LocalHandler:
        def handler(_request: HttpRequest) -> HttpResponse:
            return _file_response(path)

        return handler

    for url, path in files().items():
        routes.add("GET", url, serve(path))

    def redirect(_request: HttpRequest) -> HttpResponse:
        return HttpResponse(status=301, headers=[("location", PREFIX)])

    def config(_request: HttpRequest) -> HttpResponse:
        body = json.dumps(local_config()).encode()
        return HttpResponse(status=200, headers=[("content-type", "application/json"), *SECURITY_HEADERS], body=body)

    routes.add("GET", PREFIX.rstrip("/"), redirect)
    routes.add("GET", CONFIG_PATH, config)
