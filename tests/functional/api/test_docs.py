"""The API's documentation through the reading function's real handler: the page, the document, Swagger UI's files.

All of it comes from the function and its layer (no third-party host), and none of it needs a caller: these routes
have no authorizer (tests/unit/test_template.py), so the events carry no claims.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from typing import Any

import pytest
from lemtrada.web import swagger

from tests.conftest import ROOT
from tests.functional.api.conftest import Api, load_function
from tests.functional.conftest import FakeLambdaContext, load_event


def _get(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The reading handler's raw answer to GET <path> (under the dev stage, as API Gateway sends it)."""
    event = load_event("reading/get_docs")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/dev{path}"
    event["routeKey"] = event["requestContext"]["routeKey"] = f"GET {path}"
    event["headers"] = {"accept": "*/*", **(headers or {})}
    result: dict[str, Any] = load_function("reading").handler(event, FakeLambdaContext())
    return result


def test_docs_page_loads_everything_by_relative_url_from_this_api(api: Api) -> None:
    page = api.call("get_docs")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "://" not in page.raw, "an absolute URL in the page: everything comes from this API"
    sources = set(re.findall(r'(?:src|href)="([^"]+)"', page.raw))
    assert sources == {"docs/swagger-ui.css", "docs/swagger-ui-bundle.js"}
    assert 'new URL("openapi.json", window.location.href)' in page.raw


def test_docs_page_policy_allows_only_this_api_and_its_own_init_script(api: Api) -> None:
    page = api.call("get_docs")
    policy = dict(part.split(" ", 1) for part in page.headers["content-security-policy"].split("; "))
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    inline = re.findall(r"<script>(.*?)</script>", page.raw, flags=re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"


def test_openapi_json_is_the_committed_document() -> None:
    answer = _get("/openapi.json")
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["body"] == (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert "/patients/{patient_id}/infusions" in json.loads(answer["body"])["paths"]


@pytest.mark.parametrize("item", swagger.ASSETS, ids=lambda item: item.file)
def test_swagger_ui_files_are_served_from_the_layer(item: swagger.Asset) -> None:
    shipped = (swagger.ASSET_DIR / item.file).read_bytes()
    plain = _get(item.route)
    assert plain["statusCode"] == 200
    assert plain["headers"]["Content-Type"] == item.content_type
    assert plain["body"].encode("utf-8") == shipped
    zipped = _get(item.route, {"accept-encoding": "gzip, deflate, br"})
    assert zipped["isBase64Encoded"] is True
    assert zipped["headers"]["Content-Encoding"] == "gzip"
    assert zipped["headers"]["Vary"] == "Accept-Encoding"
    body = base64.b64decode(zipped["body"])
    assert gzip.decompress(body) == shipped
    assert len(body) < len(shipped) / 2
    refused = _get(item.route, {"accept-encoding": "gzip;q=0, br"})
    assert refused["isBase64Encoded"] is False
    assert "Content-Encoding" not in refused["headers"]


def test_an_unknown_file_under_docs_is_404() -> None:
    assert _get("/docs/swagger-ui-standalone-preset.js")["statusCode"] == 404
