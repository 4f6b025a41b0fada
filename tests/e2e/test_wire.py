"""The live stack on the wire as API Gateway answers: odd methods, chunked bodies, a broken Content-Length."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "MKCOL"])
@pytest.mark.parametrize("path", ["/patients", "/health", "/nowhere"])
def test_a_method_no_route_serves_is_404_not_found(base_url: str, method: str, path: str) -> None:
    response = requests.request(method, f"{base_url}{path}", timeout=10)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_a_chunked_enrollment_is_read_and_stored(local_stack: RunningStack) -> None:
    clinic_id = f"wire-{uuid.uuid4().hex[:8]}"
    clinic = {"name": "Wire clinic", "timezone": "Europe/Paris", "label": "US"}
    created = requests.put(
        f"{local_stack.base_url}/clinics/{clinic_id}", json=clinic, headers=local_stack.headers("admins"), timeout=15
    )
    assert created.status_code == 201, created.text
    body = (
        b'{"birth_date": "1990-03-14", "sex": "female", "reproductive_potential": true, '
        b'"diagnosis": "relapsing_remitting", "prior_dmt_count": 2, "contraindications": []}'
    )

    def chunks() -> Iterator[bytes]:  # a generator body makes requests send Transfer-Encoding: chunked
        for start in range(0, len(body), 40):
            yield body[start : start + 40]

    headers = {
        **local_stack.headers("clinicians", clinic_id=clinic_id),
        "Content-Type": "application/json",
        "Idempotency-Key": f"chunked-{clinic_id}",
    }
    response = requests.post(f"{local_stack.base_url}/patients", data=chunks(), headers=headers, timeout=15)
    assert response.status_code == 201, response.text
    assert response.json()["patient_id"]


def test_a_malformed_content_length_is_answered_400(base_url: str) -> None:
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(b"POST /patients HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}")
        answer = b""
        while part := connection.recv(65536):
            answer += part
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert answer.endswith(b'{"message":"Bad Request"}')
