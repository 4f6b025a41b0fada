"""The local stack's own routes: tokens for the four roles, and the notices published to SNS."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from local.events import HttpRequest, HttpResponse, json_response
from local.server import LocalRoutes
from local.tokens import ROLES, issue_token

if TYPE_CHECKING:
    from local.stack import LocalStack


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    parsed = json.loads(request.body)
    if not isinstance(parsed, dict):
        raise ValueError("the body is a JSON object")
    return parsed


def register(routes: LocalRoutes, stack: LocalStack) -> None:
    """Add `POST /_local/token` and `GET /_local/notices`."""

    def token(request: HttpRequest) -> HttpResponse:
        try:
            body = _json_body(request)
        except ValueError:
            return json_response(400, {"message": "the body must be a JSON object"})
        role = body.get("role")
        if role not in ROLES:
            return json_response(400, {"message": f"role must be one of {', '.join(ROLES)}"})
        sub, clinic_id = body.get("sub"), body.get("clinic_id")
        if not isinstance(sub, str | None) or not isinstance(clinic_id, str | None):
            return json_response(400, {"message": "sub and clinic_id are strings"})
        signed = issue_token(stack.signing_key, role, sub=sub, clinic_id=clinic_id, issuer=stack.issuer)
        return json_response(200, {"token": signed})

    def notices(_request: HttpRequest) -> HttpResponse:
        return json_response(200, stack.notices())

    routes.add("POST", "/_local/token", token)
    routes.add("GET", "/_local/notices", notices)
