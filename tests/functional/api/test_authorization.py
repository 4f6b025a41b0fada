"""Every route × every role × ownership: the caller sees and changes only what is its own; anything else is 404."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.conftest import (
    ADMIN,
    CLINICIAN,
    OTHER_CLINIC,
    OTHER_CLINICIAN,
    OTHER_PATIENT,
    PATIENT,
    Api,
)

ROLES = {
    "admin": ADMIN,
    "clinician": CLINICIAN,
    "other_clinician": OTHER_CLINICIAN,
    "patient": PATIENT,
    "other_patient": OTHER_PATIENT,
}

# route sample -> role -> expected status (the patient is in the clinician's clinic and linked to PATIENT).
MATRIX: dict[str, dict[str, int]] = {
    "put_clinic": {"admin": 200, "clinician": 404, "other_clinician": 404, "patient": 404, "other_patient": 404},
    "post_worklist_rebuild": {
        "admin": 200,
        "clinician": 404,
        "other_clinician": 404,
        "patient": 404,
        "other_patient": 404,
    },
    # A clinician enrolls into its own clinic: the other clinician's patient lands in the other clinic.
    "post_patients": {"admin": 404, "clinician": 201, "other_clinician": 201, "patient": 404, "other_patient": 404},
    "get_patients": {"admin": 404, "clinician": 200, "other_clinician": 200, "patient": 404, "other_patient": 404},
    "patch_patient": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 404, "other_patient": 404},
    "post_infusion": {"admin": 404, "clinician": 201, "other_clinician": 404, "patient": 404, "other_patient": 404},
    "post_result": {"admin": 404, "clinician": 201, "other_clinician": 404, "patient": 404, "other_patient": 404},
    "get_patient": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 200, "other_patient": 404},
    "get_results": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 200, "other_patient": 404},
    "get_readiness": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 200, "other_patient": 404},
    "get_schedule": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 200, "other_patient": 404},
    "get_schedule_ics": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 200, "other_patient": 404},
    "get_patient_fhir": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 200, "other_patient": 404},
    "get_worklist": {"admin": 404, "clinician": 200, "other_clinician": 404, "patient": 404, "other_patient": 404},
    # /me is always the caller's own record: the other patient sees its own, never the first one's.
    "get_me": {"admin": 404, "clinician": 404, "other_clinician": 404, "patient": 200, "other_patient": 200},
}

CASES = [(route, role, status) for route, by_role in MATRIX.items() for role, status in by_role.items()]


def _request(route: str, patient_id: str) -> dict[str, Any]:
    """Path and body of one route for the patient under test."""
    paths = {
        "patch_patient": f"/patients/{patient_id}",
        "post_infusion": f"/patients/{patient_id}/infusions",
        "post_result": f"/patients/{patient_id}/results",
        "get_patient": f"/patients/{patient_id}",
        "get_results": f"/patients/{patient_id}/results",
        "get_readiness": f"/patients/{patient_id}/readiness",
        "get_schedule": f"/patients/{patient_id}/schedule",
        "get_schedule_ics": f"/patients/{patient_id}/schedule.ics",
        "get_patient_fhir": f"/patients/{patient_id}/fhir",
    }
    bodies: dict[str, Any] = {
        "patch_patient": {"active_infection": False},
        "post_patients": {
            "birth_date": "1990-02-03",
            "sex": "male",
            "reproductive_potential": False,
            "diagnosis": "relapsing_remitting",
            "prior_dmt_count": 3,
            "contraindications": [],
        },
    }
    request: dict[str, Any] = {}
    if route in paths:
        request["path"] = paths[route]
    if route in bodies:
        request["body"] = bodies[route]
    return request


@pytest.mark.parametrize(("route", "role", "expected"), CASES, ids=[f"{r}-{o}" for r, o, _ in CASES])
def test_route_role_ownership(api: Api, patient_id: str, route: str, role: str, expected: int) -> None:
    assert api.put_clinic(OTHER_CLINIC).status == 201
    other = api.call("post_patients", claims=OTHER_CLINICIAN, body={**_request("post_patients", "")["body"]})
    assert other.status == 201
    linked = api.enroll(patient_sub=OTHER_PATIENT["sub"])
    assert linked.status == 201

    reply = api.call(route, claims=ROLES[role], **_request(route, patient_id))

    assert reply.status == expected, reply.raw
    if expected == 404:
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.body["code"] == "not_found"
    if route == "get_patients" and role == "other_clinician":
        assert patient_id not in [p["patient_id"] for p in reply.body["patients"]]
    if route == "get_me" and role == "other_patient":
        assert reply.body["patient"]["patient_id"] == linked.body["patient_id"]


def test_a_clinician_without_a_clinic_claim_reaches_nothing(api: Api, patient_id: str) -> None:
    lost = {"sub": "11111111-2222-4333-8444-555555555555", "cognito:groups": "[clinicians]"}
    assert api.call("get_patient", claims=lost, path=f"/patients/{patient_id}").status == 404
    assert api.call("get_patients", claims=lost).status == 404


def test_claims_without_a_subject_reach_nothing(api: Api, patient_id: str) -> None:
    anonymous = {"cognito:groups": "[clinicians admins]", "custom:clinic_id": "lyon-neuro"}
    assert api.call("get_patient", claims=anonymous, path=f"/patients/{patient_id}").status == 404


def test_groups_flattened_by_http_api_are_understood(api: Api, patient_id: str) -> None:
    both = {**CLINICIAN, "cognito:groups": "[clinicians admins]"}
    assert api.call("get_patient", claims=both, path=f"/patients/{patient_id}").status == 200
    assert api.call("put_clinic", claims=both).status == 200
