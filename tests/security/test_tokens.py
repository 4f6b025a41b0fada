"""Token abuse on the local stack over HTTP (its front checks tokens as API Gateway's JWT authorizer does).

Forged, expired, foreign and mis-scoped tokens are all refused; where the token is valid but the record is not
the caller's, the answer is 404 with the same body as for a record that does not exist (section 3: never 403).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from local.routes import Route, read_routes
from local.template import LocalContext, Resolver, load_template
from local.tokens import KEY_FILE, LOCAL_CLIENT_ID, LOCAL_ISSUER, SigningKey
from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack, start_stack

pytestmark = pytest.mark.e2e
CLINIC, OTHER_CLINIC = "tok-lyon", "tok-nantes"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, Path]]:
    data = tmp_path_factory.mktemp("token-stack")
    running = start_stack(data, extra_args=("--in-memory",))
    try:
        yield running, data
    finally:
        running.stop()


def _b64(part: dict[str, Any] | bytes) -> str:
    raw = part if isinstance(part, bytes) else json.dumps(part, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(role: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "cognito:groups": [role],
        "token_use": "id",
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_CLIENT_ID,
        "iat": now,
        "exp": now + 600,
    }
    if role == "clinicians":
        claims["custom:clinic_id"] = CLINIC
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


@pytest.fixture(scope="module")
def world(stack: tuple[RunningStack, Path]) -> dict[str, Any]:
    """Two clinics, a patient in each (with linked patient users); the real signing key."""
    running, data = stack
    key = SigningKey.load_or_create(data)
    url = running.base_url
    admin = running.headers("admins")
    for clinic in (CLINIC, OTHER_CLINIC):
        body = {"name": clinic, "timezone": "Europe/Paris", "label": "US"}
        assert requests.put(f"{url}/clinics/{clinic}", json=body, headers=admin, timeout=10).status_code == 201
    patients = {}
    for clinic in (CLINIC, OTHER_CLINIC):
        sub = str(uuid.uuid4())
        enrollment = {
            "birth_date": "1985-01-01",
            "sex": "male",
            "reproductive_potential": False,
            "diagnosis": "relapsing_remitting",
            "prior_dmt_count": 2,
            "contraindications": [],
            "patient_sub": sub,
        }
        headers = running.headers("clinicians", clinic_id=clinic)
        reply = requests.post(f"{url}/patients", json=enrollment, headers=headers, timeout=10)
        assert reply.status_code == 201, reply.text
        patients[clinic] = (reply.json()["patient_id"], sub)
    return {"url": url, "key": key, "patients": patients}


def _sign(key: SigningKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def _get(world: dict[str, Any], path: str, token: str | None) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.get(f"{world['url']}{path}", headers=headers, timeout=10)


def _refused_tokens(key: SigningKey) -> dict[str, str | None]:
    """Tokens API Gateway's authorizer refuses (401), each for a clinician of the clinic."""
    other_key = SigningKey.generate()
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    good = _claims("clinicians")
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-jwt",
        "expired": _sign(key, _claims("clinicians", iat=now - 7200, exp=now - 3600)),
        "expired-1s": _sign(key, _claims("clinicians", exp=now - 1)),
        "not-yet-valid": _sign(key, _claims("clinicians", nbf=now + 3600)),
        "no-exp": _sign(key, _claims("clinicians", exp=None)),
        "wrong-issuer": _sign(key, _claims("clinicians", iss="https://cognito-idp.eu-west-1.amazonaws.com/x")),
        "no-issuer": _sign(key, _claims("clinicians", iss=None)),
        "wrong-audience": _sign(key, _claims("clinicians", aud="another-app-client")),
        "no-audience": _sign(key, _claims("clinicians", aud=None)),
        "wrong-key": jwt.encode(good, other_key.private_key, algorithm="RS256", headers={"kid": key.kid}),
        "wrong-key-no-kid": jwt.encode(good, other_key.private_key, algorithm="RS256"),
        "alg-none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{_b64(good)}.",
        "alg-none-signed": f"{_b64({'alg': 'none', 'kid': key.kid})}.{_b64(good)}.{_b64(b'sig')}",
        "hs256-public-key": _hs256(good, public_pem, key.kid),
        "tampered-claims": _tamper(_sign(key, good), {**good, "custom:clinic_id": OTHER_CLINIC}),
    }


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    import hashlib
    import hmac

    head = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    signature = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return f"{head}.{_b64(signature)}"


def _tamper(token: str, claims: dict[str, Any]) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{_b64(claims)}.{signature}"


REFUSED_NAMES = sorted(_refused_tokens(SigningKey.generate()))


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_refused_tokens_get_401_on_every_kind_of_route(world: dict[str, Any], name: str) -> None:
    token = _refused_tokens(world["key"])[name]
    own_patient, _ = world["patients"][CLINIC]
    for path in (f"/patients/{own_patient}", "/patients", f"/clinics/{CLINIC}/worklist", "/me"):
        reply = _get(world, path, token)
        assert reply.status_code == 401, (name, path, reply.status_code, reply.text)
        assert reply.json() == {"message": "Unauthorized"}
        assert own_patient not in reply.text


PUBLIC_ROUTES = {"GET /docs", "GET /openapi.json", "GET /docs/swagger-ui.css", "GET /docs/swagger-ui-bundle.js"}


def _template_routes() -> list[Route]:
    template = load_template(ROOT / "template.yaml")
    return read_routes(template, Resolver(template, LocalContext(region="eu-west-1")))


def _concrete(path: str) -> str:
    """A path of the route with its variables filled in (a record that need not exist: no function runs)."""
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.mark.parametrize("route_key", sorted(f"{r.method} {r.path}" for r in _template_routes()))
def test_every_route_but_the_docs_refuses_a_request_without_a_token(world: dict[str, Any], route_key: str) -> None:
    """Each route of template.yaml over HTTP: the four documentation routes answer, every other one is 401."""
    method, path = route_key.split(" ", 1)
    for token in (None, "not-a-jwt"):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        reply = requests.request(method, f"{world['url']}{_concrete(path)}", headers=headers, timeout=30)
        if route_key in PUBLIC_ROUTES:
            assert reply.status_code == 200, (route_key, token, reply.status_code)  # a stray header changes nothing
        else:
            assert reply.status_code == 401, (route_key, token, reply.status_code, reply.text)
            assert reply.json() == {"message": "Unauthorized"}


def test_the_public_routes_are_exactly_the_documentation() -> None:
    public = {f"{r.method} {r.path}" for r in _template_routes() if r.authorizer is None}
    assert public == PUBLIC_ROUTES


def _not_found_body(world: dict[str, Any], token: str, path: str) -> Any:
    reply = _get(world, path, token)
    assert reply.status_code == 404, (path, reply.status_code, reply.text)
    assert reply.headers["content-type"] == "application/problem+json"
    return reply.json()


def test_valid_tokens_reaching_for_other_tenants_get_the_same_404_as_for_nothing(world: dict[str, Any]) -> None:
    key = world["key"]
    own_patient, own_sub = world["patients"][CLINIC]
    foreign_patient, _ = world["patients"][OTHER_CLINIC]
    missing = uuid.uuid4().hex
    clinician = _sign(key, _claims("clinicians"))
    cases = {
        # a clinician token with another clinic's id in the path or another clinic's patient
        "clinician-foreign-patient": (clinician, f"/patients/{foreign_patient}"),
        "clinician-foreign-readiness": (clinician, f"/patients/{foreign_patient}/readiness"),
        "clinician-foreign-schedule": (clinician, f"/patients/{foreign_patient}/schedule"),
        "clinician-foreign-ics": (clinician, f"/patients/{foreign_patient}/schedule.ics"),
        "clinician-foreign-fhir": (clinician, f"/patients/{foreign_patient}/fhir"),
        "clinician-foreign-worklist": (clinician, f"/clinics/{OTHER_CLINIC}/worklist"),
        # a clinician whose token names the other clinic cannot reach this clinic's patient
        "other-clinic-claim": (
            _sign(key, _claims("clinicians", **{"custom:clinic_id": OTHER_CLINIC})),
            f"/patients/{own_patient}",
        ),
        # a patient token for another patient, and a patient on a clinician route
        "patient-other-patient": (_sign(key, _claims("patients", sub=own_sub)), f"/patients/{foreign_patient}"),
        "patient-worklist": (_sign(key, _claims("patients", sub=own_sub)), f"/clinics/{CLINIC}/worklist"),
        "patient-unlinked": (_sign(key, _claims("patients")), f"/patients/{own_patient}"),
        "patient-unlinked-me": (_sign(key, _claims("patients")), "/me"),
        # a clinician without clinic_id, a user with no group, groups that mean nothing here
        "clinician-no-clinic": (
            _sign(key, _claims("clinicians", **{"custom:clinic_id": None})),
            f"/patients/{own_patient}",
        ),
        "clinician-empty-clinic": (
            _sign(key, _claims("clinicians", **{"custom:clinic_id": ""})),
            f"/patients/{own_patient}",
        ),
        "no-group": (_sign(key, _claims("clinicians", **{"cognito:groups": None})), f"/patients/{own_patient}"),
        "unknown-group": (
            _sign(key, _claims("clinicians", **{"cognito:groups": ["superusers"]})),
            f"/patients/{own_patient}",
        ),
        "admin-reads-patient": (_sign(key, _claims("admins")), f"/patients/{own_patient}"),
        "no-sub": (_sign(key, _claims("clinicians", sub=None)), f"/patients/{own_patient}"),
    }
    for name, (token, path) in cases.items():
        # the same caller on the same route for a record that does not exist
        known = next(item for item in (foreign_patient, own_patient, OTHER_CLINIC, CLINIC, "/me") if item in path)
        nothing = path if known == "/me" else path.replace(known, missing)
        reference = _not_found_body(world, token, nothing)
        body = _not_found_body(world, token, path)
        assert json.dumps(body).replace(known, missing) == json.dumps(reference), name
        assert foreign_patient not in json.dumps(body).replace(known, missing)


def test_foreign_writes_are_404_and_store_nothing(world: dict[str, Any]) -> None:
    key, url = world["key"], world["url"]
    foreign_patient, _ = world["patients"][OTHER_CLINIC]
    clinician = {"Authorization": f"Bearer {_sign(key, _claims('clinicians'))}"}
    patient = {"Authorization": f"Bearer {_sign(key, _claims('patients', sub=world['patients'][CLINIC][1]))}"}
    writes = [
        (clinician, "post", f"/patients/{foreign_patient}/results", {"item": "cbc", "date": "2026-01-05"}),
        (clinician, "patch", f"/patients/{foreign_patient}", {"withdrawn": True}),
        (clinician, "put", f"/clinics/{OTHER_CLINIC}", {"name": "x", "timezone": "UTC", "label": "EU"}),
        (clinician, "post", f"/clinics/{OTHER_CLINIC}/subscriptions", {"email": "a@example.org"}),
        (patient, "post", f"/patients/{world['patients'][CLINIC][0]}/results", {"item": "cbc", "date": "2026-01-05"}),
    ]
    for headers, method, path, body in writes:
        reply = requests.request(method, f"{url}{path}", json=body, headers=headers, timeout=10)
        assert reply.status_code == 404, (path, reply.status_code, reply.text)
    admin = {"Authorization": f"Bearer {_sign(key, _claims('admins'))}"}
    other = {"Authorization": f"Bearer {_sign(key, _claims('clinicians', **{'custom:clinic_id': OTHER_CLINIC}))}"}
    record = requests.get(f"{url}/patients/{foreign_patient}", headers=other, timeout=10).json()
    assert record["version"] == 1
    assert record["status"] == "enrolled"
    assert requests.get(f"{url}/patients", headers=admin, timeout=10).status_code == 404


def test_the_key_file_is_private(stack: tuple[RunningStack, Path]) -> None:
    _, data = stack
    assert (data / KEY_FILE).stat().st_mode & 0o077 == 0
