"""The pieces every HTTP function assembles: a validating resolver that answers problem+json, the caller,
JSON answers with an ETag, idempotent writes and the request-size guard.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError as RoutingError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel

from lemtrada.services.actor import Actor
from lemtrada.services.errors import NotFound, ServiceError, ValidationFailed, Violation
from lemtrada.web import idempotency
from lemtrada.web.models import MAX_BODY_BYTES
from lemtrada.web.principal import actor_from_claims, claims_of
from lemtrada.web.problems import PROBLEM_JSON, from_service_error, problem, validation_problem

JSON = "application/json"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')

logger = Logger()


class Problem(BaseModel):
    """RFC 9457 problem details, plus ``code`` (machine-readable) and ``errors`` (each field or rule at fault)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, str]] | None = None


def problem_responses(*statuses: int, ok: Mapping[int, str] | None = None, media: str | None = None) -> dict[int, Any]:
    """OpenAPI entries for every answer a route gives: its successes, 422 and the problem answers it lists.

    A success is documented with the route's return model (``application/json``), or as text of type ``media``.
    422 is always listed: the request models refuse malformed path, query, header and body values on every route.
    """
    descriptions = {
        404: "Unknown, or not the caller's to see (never 403)",
        409: "Conflict: stale version, duplicate, or an idempotent request still in progress",
        413: "Request body too large",
        415: "The request body is not application/json",
        422: "Malformed input (validation_error) or a regimen rule refused it (the rule's code)",
    }
    entries: dict[int, Any] = {}
    for status, description in (ok or {200: "OK"}).items():
        entries[status] = {"description": description}
        if media is not None:
            entries[status]["content"] = {media: {"schema": {"type": "string"}}}
    for status in sorted({*statuses, 422}):
        entries[status] = {"description": descriptions[status], "content": {PROBLEM_JSON: {"model": Problem}}}
    return entries


def new_resolver() -> APIGatewayHttpResolver:
    """A resolver that validates requests with the route annotations and answers every error as problem+json."""
    app = APIGatewayHttpResolver(enable_validation=True)
    app.exception_handler(RequestUnsupportedContentType)(_unsupported_media)
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(ServiceError)(from_service_error)
    app.exception_handler(RoutingError)(_routing_error)
    app.exception_handler(Exception)(_unexpected)
    app.not_found()(_route_not_found)
    return app


def _invalid_request(error: RequestValidationError) -> Response[str]:
    return validation_problem(error.errors())


def _unsupported_media(_: Exception) -> Response[str]:
    return problem(415, "unsupported_media_type", "Unsupported media type", "request bodies are application/json")


def _routing_error(error: RoutingError) -> Response[str]:
    code = "not_found" if error.status_code == 404 else "bad_request"
    return problem(error.status_code, code, "Request not served", str(error.msg))


def _route_not_found(_: Exception) -> Response[str]:
    return problem(404, "not_found", "Not found", "no such route")


def _unexpected(error: Exception) -> Response[str]:
    logger.exception("request failed unexpectedly", extra={"error_type": type(error).__name__})
    return problem(500, "internal_error", "Internal error", "the request failed; it is safe to retry")


def current_actor(app: APIGatewayHttpResolver) -> Actor:
    """The caller from the verified JWT claims; without a subject nothing is the caller's (404)."""
    actor = actor_from_claims(claims_of(app.current_event.raw_event))
    if actor is None:
        raise NotFound("no such resource")
    return actor


def if_match(app: APIGatewayHttpResolver) -> int | None:
    """The version in ``If-Match`` (``"3"``, ``W/"3"`` or ``3``), or None when the header is absent."""
    raw = app.current_event.headers.get("if-match")
    if raw is None:
        return None
    found = _ETAG.match(raw.strip())
    if found is None:
        raise ValidationFailed(
            "If-Match must carry the ETag of a previous answer",
            violations=[Violation("invalid", 'an ETag such as "3"', field="If-Match")],
        )
    return int(found.group(1))


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def answer(status: int, view: BaseModel, headers: Mapping[str, str] | None = None) -> idempotency.WriteAnswer:
    """A JSON answer in the shape idempotency stores and replays."""
    return {"status": status, "body": view.model_dump(mode="json"), "headers": dict(headers or {})}


def respond(result: idempotency.WriteAnswer) -> Response[dict[str, Any]]:
    headers = {"Cache-Control": "no-store", **result.get("headers", {})}
    return Response(status_code=int(result["status"]), content_type=JSON, body=result["body"], headers=headers)


def ok(view: BaseModel, headers: Mapping[str, str] | None = None) -> Response[dict[str, Any]]:
    return respond(answer(200, view, headers))


def idempotent_write(
    app: APIGatewayHttpResolver, body: BaseModel | None, write: Callable[[], idempotency.WriteAnswer]
) -> Response[dict[str, Any]]:
    """Run a write at most once per ``Idempotency-Key``, scoped by the caller, the method and the path."""
    event = app.current_event
    actor = current_actor(app)
    scope = f"{actor.sub} {event.request_context.http.method} {event.path}"
    payload = body.model_dump(mode="json") if body is not None else None
    return respond(idempotency.run_idempotent(event.headers, scope, payload, write))


def body_limit(event: Mapping[str, Any], limits: Mapping[str, int] | None = None) -> int:
    """The body limit of the event's route: ``limits`` by route key (``POST /patients``), else MAX_BODY_BYTES."""
    return (limits or {}).get(str(event.get("routeKey") or ""), MAX_BODY_BYTES)


def oversized(event: Mapping[str, Any], limit: int = MAX_BODY_BYTES) -> Response[str] | None:
    """413 for a body past the limit, checked before anything parses it."""
    body = str(event.get("body") or "")
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if size > limit:
        return problem(413, "payload_too_large", "Payload too large", f"bodies are limited to {limit} bytes")
    return None


def unreadable_body(event: Mapping[str, Any], limit: int = MAX_BODY_BYTES) -> Response[str] | None:
    """413 for a body past the limit, 415 for a write whose body is declared as anything but JSON.

    Checked before routing: the validating resolver would otherwise try to parse form or multipart bodies (and
    fail with an error of its own on a multipart type without a boundary).
    """
    too_big = oversized(event, limit)
    if too_big is not None:
        return too_big
    method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", "")).upper()
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    media = headers.get("content-type", "").split(";", maxsplit=1)[0].strip().lower()
    if method in _BODY_METHODS and media and media != JSON:
        return _unsupported_media(TypeError(media))
    if not _utf8_text(event):
        violation = Violation("json_invalid", "the body is not UTF-8 text", field="body")
        return problem(422, "validation_error", "Validation error", "the body is not UTF-8", violations=[violation])
    shape = _json_shape_problem(event) if method in _BODY_METHODS else None
    if shape is not None:
        violation = Violation("json_invalid", shape, field="body")
        return problem(422, "validation_error", "Validation error", shape, violations=[violation])
    return None


def _utf8_text(event: Mapping[str, Any]) -> bool:
    """Whether the body (API Gateway base64-encodes bodies it does not take for text) decodes as UTF-8."""
    body = event.get("body")
    if not body or not event.get("isBase64Encoded"):
        return True
    try:
        base64.b64decode(str(body), validate=True).decode("utf-8")
    except ValueError:
        return False
    return True


def _json_shape_problem(event: Mapping[str, Any]) -> str | None:
    """What is wrong with a JSON body's shape before the models see it, or None.

    Every body the API takes is one JSON object: the validating resolver would take the first element of an array
    for the object, and a few thousand ``[`` (they fit in 16 KB) exhaust the parser's recursion.
    """
    body = event.get("body")
    if not body or event.get("isBase64Encoded"):
        return None
    try:
        document = json.loads(str(body))
    except RecursionError:
        return "the body nests too deeply"
    except ValueError:
        return None  # malformed JSON: the validating resolver reports it
    return None if isinstance(document, dict) else "the body must be one JSON object"


def resolve_write(
    app: APIGatewayHttpResolver, event: dict[str, Any], context: Any, *, body_limits: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Answer a writer's event: refuse unreadable bodies before routing, bind idempotency to this invocation, route.

    ``body_limits`` raises the body limit of the routes it names (by route key); every other keeps MAX_BODY_BYTES.
    Binding the invocation lets an in-progress idempotency record expire with it, so a timed-out attempt can be
    retried.
    """
    refused = unreadable_body(event, body_limit(event, body_limits))
    if refused is not None:
        return serialized(refused)
    idempotency.register_context(context)
    return app.resolve(event, context)


def serialized(response: Response[str]) -> dict[str, Any]:
    """A problem response as the Lambda proxy result (for answers given before routing)."""
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": PROBLEM_JSON},
        "body": response.body if isinstance(response.body, str) else json.dumps(response.body),
        "isBase64Encoded": False,
    }
