"""DynamoDB throttling and transient errors injected at the botocore level under the API's writes (moto).

Whatever fails, an answer is either a success with the write stored once, or a 5xx problem+json with nothing
stored, and the client's retry with the same Idempotency-Key stores it exactly once. The sweep's faults (SNS
errors, throttling, a Lambda timeout mid-shard) are covered by tests/unit/sweep/test_sweep_service.py
(CRASH_POINTS), tests/unit/sweep/test_simulation.py and tests/functional/sweep/test_sweep_functions.py.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError
from lemtrada.storage.repository import DynamoPatientRepository

from tests.functional.api.conftest import CLINICIAN, Api
from tests.security.gateway import send

ERRORS = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "InternalServerError",
    "RequestLimitExceeded",
    "ServiceUnavailable",
]


class Faults:
    """Fails the next ``count`` calls of ``operation`` with ``code``."""

    def __init__(self) -> None:
        self.plan: dict[str, tuple[str, int]] = {}
        self.injected = 0

    def fail(self, operation: str, code: str, count: int) -> None:
        self.plan[operation] = (code, count)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    state = Faults()
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def failing(self: Any, operation: str, params: Any) -> Any:
        code, count = state.plan.get(operation, ("", 0))
        if count > 0:
            state.plan[operation] = (code, count - 1)
            state.injected += 1
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", failing)
    return state


def _stored_results(patient_id: str) -> int:
    """Results stored for the patient, read through the service's repository (whatever the item layout)."""
    stored = DynamoPatientRepository("regimen-test", region="eu-west-1").get_patient(patient_id)
    return 0 if stored is None else len(stored.record.results)


def _post_result(patient_id: str, key: str) -> Any:
    body = json.dumps({"item": "cbc", "date": "2026-11-20"}).encode()
    headers = {"content-type": "application/json", "idempotency-key": key}
    return send("POST", f"/patients/{patient_id}/results", claims=CLINICIAN, headers=headers, body=body)


@pytest.mark.parametrize("code", ERRORS)
@pytest.mark.parametrize("operation", ["TransactWriteItems", "Query", "PutItem"])
@pytest.mark.parametrize("count", [1, 2, 20])
def test_a_failing_write_is_stored_once_after_retries(
    api: Api, patient_id: str, faults: Faults, *, operation: str, code: str, count: int
) -> None:
    faults.fail(operation, code, count)
    answers = []
    for _ in range(4):  # the phone retries with the same key until it gets an answer
        answer = _post_result(patient_id, "retry-key-1")
        answers.append(answer.status)
        assert answer.status in (201, 500, 503), answer.body
        if answer.status >= 500:
            assert answer.content_type == "application/problem+json"
        else:
            break
        faults.plan.pop(operation, None)  # the fault clears
    assert answers[-1] == 201
    assert _stored_results(patient_id) == 1
    again = _post_result(patient_id, "retry-key-1")
    assert again.status == 201
    assert _stored_results(patient_id) == 1
    assert faults.injected >= 1
