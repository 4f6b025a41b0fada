"""Schemathesis over docs/openapi.json, every operation, through the real handlers under moto.

Each generated case (valid and deliberately invalid: negative mode) is sent as the HTTP request schemathesis
would put on the wire; ``gateway.send`` turns it into the HTTP API v2 event API Gateway builds and calls the
handler of the route template.yaml names. Checks: no 5xx, every status, content type and body as the document
describes them (problem+json answers included), and invalid input refused.

The caller of each case is a real member of the clinic: a clinician (admins for ``PUT /clinics``, the linked
patient for ``/me``); about half the cases aim at the patient and clinic that exist, so validation and the rules
run on real records rather than stopping at 404. ``FUZZ_EXAMPLES`` (default 50 per operation and mode) sets
the depth; ``--run-slow`` runs ``test_fuzz_deep`` at 300.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, reject, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ROOT
from tests.functional.api.conftest import ADMIN, CLINIC, CLINICIAN, PATIENT, Api
from tests.security.gateway import Answer, is_public, send

BASE = "http://127.0.0.1"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Tokens are sent as presence: "Bearer <anything>" stands for a valid token of the caller. A value that is not a
# bearer token at all (what schemathesis sends to violate the security scheme) cannot be one: the authorizer
# answers 401.
_BEARER = re.compile(r"^Bearer ")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
DEEP_EXAMPLES = 300
COUNTS: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


def _schema(examples: int) -> Any:
    schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=examples, deterministic=True
    )
    return schema


def _caller(method: str, path: str) -> dict[str, str]:
    if method == "PUT" and path == "/clinics/{clinic_id}":
        return ADMIN
    if path == "/me":
        return PATIENT
    return CLINICIAN


def _negative(case: Any, location: ParameterLocation) -> bool:
    """Whether schemathesis generated this part of the case to violate the schema."""
    info = case.meta.components.get(location) if case.meta is not None else None
    return info is not None and info.mode == GenerationMode.NEGATIVE


def _aim(case: Any, patient_id: str) -> None:
    """Point about half the cases at the records that exist (decided by the generated value, so reproducible).

    Path parameters generated to violate the schema are sent as generated: replacing them with a real id would
    turn an invalid request into a valid one that schemathesis still expects to be refused.
    """
    if _negative(case, ParameterLocation.PATH):
        return
    parameters = case.path_parameters or {}
    for name, real in (("patient_id", patient_id), ("clinic_id", CLINIC)):
        value = parameters.get(name)
        if isinstance(value, str) and len(value) % 2 == 0:
            parameters[name] = real


def _as_response(answer: Answer, prepared: requests.PreparedRequest) -> Response:
    body = answer.body
    if answer.headers.get("content-encoding") == "gzip":  # decoded as any HTTP client does before reading it
        body = gzip.decompress(body)
    headers = {name: [value] for name, value in answer.headers.items() if name != "content-encoding"}
    return Response(answer.status, headers, body, prepared, elapsed=0.001, verify=False, encoding="utf-8")


def run_case(case: Any, patient_id: str) -> None:
    if set(case.query or {}) - {parameter.name for parameter in case.operation.query}:
        # A query parameter the operation does not declare is ignored, as API Gateway and Powertools ignore it
        # (OpenAPI promises nothing about it); only request bodies refuse unknown members. Not a refusal to test.
        reject()
    _aim(case, patient_id)
    kwargs = case.as_transport_kwargs(base_url=BASE)
    if not all(_TOKEN.match(str(name)) for name in kwargs.get("headers") or {}):
        reject()  # a header name no HTTP client can send (API Gateway never sees it)
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
    ).prepare()
    body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body or "").encode()
    headers = {name: str(value) for name, value in prepared.headers.items()}
    url = str(prepared.url).removeprefix(BASE)
    token = next((value for name, value in headers.items() if name.lower() == "authorization"), None)
    if is_public(case.method, url):
        # No authorizer on the route: API Gateway passes the request on as it came, without claims.
        answer = send(case.method, url, claims=None, headers=headers, body=body)
    elif token is None or not _BEARER.match(token):
        # The JWT authorizer: no token, or a value that cannot be a bearer token, never reaches the function.
        answer = Answer(401, {"content-type": "application/json"}, b'{"message":"Unauthorized"}')
    else:
        answer = send(case.method, url, claims=_caller(case.method, case.path), headers=headers, body=body)
    COUNTS[f"{case.method} {case.path}"] += 1
    STATUSES[answer.status] += 1
    case.validate_response(_as_response(answer, prepared), checks=CHECKS)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    """Print how many cases ran per operation and which statuses came back (docs/SECURITY.md quotes them)."""
    yield
    if COUNTS:
        lines = [f"  {count:5d}  {operation}" for operation, count in sorted(COUNTS.items())]
        sys.stderr.write(f"\nfuzz cases: {sum(COUNTS.values())}\n" + "\n".join(lines) + "\n")
        sys.stderr.write(f"statuses: {dict(sorted(STATUSES.items()))}\n")


def _fuzz(examples: int) -> Callable[..., None]:
    @_schema(examples).parametrize()  # type: ignore[untyped-decorator]
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def test(case: Any, api: Api, patient_id: str, topic: str) -> None:
        run_case(case, patient_id)

    return test  # type: ignore[no-any-return]


test_fuzz = _fuzz(EXAMPLES)
test_fuzz_deep = pytest.mark.slow(_fuzz(DEEP_EXAMPLES))
