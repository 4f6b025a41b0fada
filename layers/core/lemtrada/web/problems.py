"""RFC 9457 problem details: every error the API answers is ``application/problem+json`` with a ``code``.

``type`` is a stable URN per code (clients switch on ``code``; ``type`` stays resolvable without a docs site).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.event_handler import Response

from lemtrada.services.errors import ServiceError, Violation

PROBLEM_JSON = "application/problem+json"
_TYPE_PREFIX = "urn:lemtrada:problem:"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    violations: Sequence[Violation] = (),
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """One problem+json response; ``errors`` lists every field or rule at fault, when there are any."""
    body: dict[str, Any] = {
        "type": f"{_TYPE_PREFIX}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if violations:
        body["errors"] = [
            {key: value for key, value in _violation(item).items() if value is not None} for item in violations
        ]
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=headers or {},
    )


def _violation(item: Violation) -> dict[str, str | None]:
    return {"code": item.code, "field": item.field, "detail": item.detail, "source": item.source}


def from_service_error(error: ServiceError) -> Response[str]:
    return problem(error.status, error.code, error.title, error.detail, violations=error.violations)


def not_found(detail: str = "no such resource") -> Response[str]:
    return problem(404, "not_found", "Not found", detail)


def validation_problem(errors: Sequence[Any]) -> Response[str]:
    """422 for a request the models refused: one entry per field, its path as a client writes it
    (``analytes[2].unit``: names joined by dots, list positions in brackets)."""
    violations = []
    for error in errors:
        field = ""
        for part in error.get("loc", ()):
            if part == "body":
                continue
            field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
        violations.append(
            Violation(code=str(error.get("type", "invalid")), field=field or None, detail=error.get("msg"))
        )
    return problem(
        422, "validation_error", "Validation error", "the request is malformed or incomplete", violations=violations
    )
