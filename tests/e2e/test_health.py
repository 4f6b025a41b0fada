"""GET /health through the local stack: the JWT authorizer, the real handler, DynamoDB Local."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def test_health_with_a_local_token_shows_the_table_answering(local_stack: RunningStack) -> None:
    response = requests.get(f"{local_stack.base_url}/health", headers=local_stack.headers("patients"), timeout=10)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["table"] == "ok"


@pytest.mark.parametrize("role", ["clinicians", "patients", "admins"])
def test_every_role_may_ask(local_stack: RunningStack, role: str) -> None:
    headers = local_stack.headers(role, clinic_id="clinic-1" if role == "clinicians" else None)

    assert requests.get(f"{local_stack.base_url}/health", headers=headers, timeout=10).status_code == 200


def test_health_without_a_token_is_unauthorized(base_url: str) -> None:
    response = requests.get(f"{base_url}/health", timeout=10)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_health_with_a_forged_token_is_unauthorized(local_stack: RunningStack) -> None:
    token = local_stack.token("admins")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"

    response = requests.get(f"{local_stack.base_url}/health", headers={"Authorization": f"Bearer {forged}"}, timeout=10)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_an_unknown_route_answers_like_http_api(base_url: str) -> None:
    response = requests.get(f"{base_url}/no/such/route", timeout=10)

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
