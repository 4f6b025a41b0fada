"""The API's one OpenAPI document, merged from the resolvers of the HTTP functions (run at development time).

``python -m lemtrada.web.openapi`` rewrites docs/openapi.json and the copy the reading function serves at
/openapi.json (and /docs shows);
a test regenerates it and fails when the committed files are stale.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import (
    HTTPBearer,
    Server,
)

from lemtrada import bootstrap

HTTP_FUNCTIONS = ("health", "enrollment", "recording", "reading", "subscriptions", "lab_results", "devices")
PUBLIC_OPERATIONS = frozenset({("get", "/docs"), ("get", "/openapi.json")})
"""The operations with no authorizer in template.yaml (a unit test checks the two agree): a browser opens them."""
SECURITY_SCHEME = "CognitoIdToken"
TITLE = "Alemtuzumab regimen service"
VERSION = "1.0.0"
DESCRIPTION = (
    "Runs the alemtuzumab (Lemtrada) regimen for relapsing MS. Every route but `/docs` and `/openapi.json` takes "
    "the Cognito ID token as a bearer token: press Authorize and paste one (on the local stack, "
    '`POST /_local/token` with `{"role": "clinicians", "clinic_id": "..."}` signs one). Clinicians see their '
    "clinic's patients, patients only their own record, anything else answers 404. "
    "Errors are application/problem+json with a machine-readable `code`. Writes take an optional "
    "`Idempotency-Key` header."
)

UNAUTHORIZED: dict[str, Any] = {
    "description": "No token, or one API Gateway's JWT authorizer refuses (answered before any function runs)",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
        }
    },
}
"""Every route but the public ones sits behind the JWT authorizer; its refusal is API Gateway's own body."""


@contextmanager
def _placeholder_environment() -> Iterator[None]:
    """Importing a handler checks its environment (lemtrada.bootstrap); the document is built without AWS, so any
    variable missing gets a placeholder for the merge only, and the settings parsed from them are forgotten."""
    required = [str(field.alias) for field in bootstrap.Settings.model_fields.values() if field.is_required()]
    added = [name for name in required if not os.environ.get(name)]
    os.environ.update({name: "1" if name == "DUE_SHARDS" else "openapi" for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
        bootstrap.use()


def merged_document(root: Path) -> dict[str, Any]:
    """The merged document of functions/<name>/app.py for every HTTP function."""
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        # Relative to the document (/openapi.json or /<stage>/openapi.json): "Try it out" keeps the stage prefix.
        servers=[Server(url=".", description="This API (the stage the document was served from)")],
        security_schemes={SECURITY_SCHEME: HTTPBearer(scheme="bearer", bearerFormat="JWT")},
        security=[{SECURITY_SCHEME: []}],
        on_conflict="error",
    )
    with _placeholder_environment():
        for name in HTTP_FUNCTIONS:
            merge.add_file(root / "functions" / name / "app.py", resolver_name="app")
        document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if (method, path) in PUBLIC_OPERATIONS:
                operation["security"] = []  # overrides the global requirement: no token, no 401
            else:
                operation.setdefault("responses", {})["401"] = UNAUTHORIZED
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def targets(root: Path) -> tuple[Path, ...]:
    """Where the document lives: the docs, and the reading function's package (served at /openapi.json)."""
    return root / "docs" / "openapi.json", root / "functions" / "reading" / "openapi.json"


def main() -> int:
    root = Path.cwd()
    text = render(merged_document(root))
    for target in targets(root):
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
