"""GET /patients/{id}/fhir (DESIGN 10, care plan out) through the real reading handler under moto: the Bundle, its
content type, and who may read it (the callers of GET /patients/{id}; 404 for everyone else)."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.bundle import Bundle as R4Bundle

from tests.functional.api.conftest import (
    ADMIN,
    CLINICIAN,
    OTHER_CLINIC,
    OTHER_CLINICIAN,
    OTHER_PATIENT,
    PATIENT,
    Api,
    Reply,
)

PLAIN = ("idempotency-key", "if-match", "accept-encoding")


def _fhir(api: Api, patient_id: str, claims: dict[str, str] = CLINICIAN) -> Reply:
    """The route without Accept-Encoding: the JSON as it is."""
    return api.call("get_patient_fhir", claims=claims, path=f"/patients/{patient_id}/fhir", drop_headers=PLAIN)


def _unpacked(reply: Reply) -> Any:
    assert reply.headers["content-encoding"] == "gzip"
    return json.loads(gzip.decompress(base64.b64decode(reply.raw)))


def _resources(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == kind]


def test_the_sample_event_answers_the_linked_patient_its_bundle(api: Api, patient_id: str) -> None:
    """The sample event carries the patient's own token (the app shows its care plan to an EHR portal) and takes
    gzip: the answer comes compressed, and unpacks to what a client without gzip gets."""
    small = api.call("get_patient_fhir", path=f"/patients/{patient_id}/fhir")
    assert small.status == 200, small.raw
    assert "content-encoding" not in small.headers  # no infusion yet: under a KB, sent as it is
    assert small.body["resourceType"] == "Bundle"
    assert api.infusion(patient_id, "2026-10-19").status == 201
    reply = api.call("get_patient_fhir", path=f"/patients/{patient_id}/fhir")
    assert reply.status == 200, reply.raw
    assert reply.headers["content-type"] == "application/fhir+json"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["vary"] == "Accept-Encoding"
    bundle = _unpacked(reply)
    assert bundle["resourceType"] == "Bundle"
    plain = _fhir(api, patient_id, PATIENT)
    assert "content-encoding" not in plain.headers
    assert plain.body == bundle


def test_gzip_only_when_the_client_takes_it(api: Api, patient_id: str) -> None:
    for day in ("2026-10-19", "2026-10-20", "2026-10-21", "2026-10-22", "2026-10-23"):
        assert api.infusion(patient_id, day).status == 201
    path = f"/patients/{patient_id}/fhir"
    packed = api.call("get_patient_fhir", claims=CLINICIAN, path=path, headers={"accept-encoding": "br, gzip;q=0.5"})
    refused = api.call("get_patient_fhir", claims=CLINICIAN, path=path, headers={"accept-encoding": "gzip;q=0"})
    plain = _fhir(api, patient_id)
    assert _unpacked(packed) == plain.body
    assert len(packed.raw) * 5 < len(plain.raw)  # about 250 Tasks of repetitive JSON
    assert "content-encoding" not in refused.headers
    assert refused.body == plain.body


def test_the_bundle_of_a_treated_patient_with_a_critical_cbc(api: Api, patient_id: str) -> None:
    for day in ("2026-10-19", "2026-10-20", "2026-10-21", "2026-10-22", "2026-10-23"):
        assert api.infusion(patient_id, day).status == 201
    cbc = {
        "item": "cbc",
        "date": "2026-11-20",
        "analytes": [
            {"code": "platelets", "value": 42, "unit": "10*9/L", "low": 150, "high": 400},
            {"code": "hemoglobin", "value": 12.8, "unit": "g/dL"},
        ],
    }
    recorded = api.call("post_result", claims=CLINICIAN, path=f"/patients/{patient_id}/results", body=cbc)
    assert recorded.status == 201, recorded.raw
    reply = _fhir(api, patient_id)
    assert reply.status == 200, reply.raw
    body = reply.body
    Bundle.model_validate(body)
    R4Bundle(body, strict=True)
    assert body["type"] == "collection"
    (patient,) = _resources(body, "Patient")
    assert patient["id"] == patient_id
    assert "name" not in patient
    (plan,) = _resources(body, "CarePlan")
    assert (plan["status"], plan["period"]["start"]) == ("active", "2026-10-19")
    schedule = api.call("get_schedule", claims=CLINICIAN, path=f"/patients/{patient_id}/schedule", query=None)
    occurrences = schedule.body["occurrences"]
    tasks = _resources(body, "Task")
    assert len(tasks) == len(occurrences) == len(plan["activity"])
    by_ref = {t["identifier"][0]["value"]: t for t in tasks}
    assert (by_ref["cbc:1"]["status"], by_ref["cbc:1"]["businessStatus"]["text"]) == ("completed", "done")
    (platelets,) = [o for o in _resources(body, "Observation") if o["code"]["text"] == "platelets"]
    assert platelets["interpretation"][0]["coding"][0]["code"] == "LL"
    assert platelets["valueQuantity"]["system"] == "http://unitsofmeasure.org"


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (CLINICIAN, 200),
        (PATIENT, 200),
        (OTHER_CLINICIAN, 404),
        (OTHER_PATIENT, 404),
        (ADMIN, 404),
    ],
    ids=["clinician", "patient", "other-clinician", "other-patient", "admin"],
)
def test_who_may_read_the_care_plan(api: Api, patient_id: str, claims: dict[str, str], expected: int) -> None:
    assert api.put_clinic(OTHER_CLINIC).status == 201
    reply = _fhir(api, patient_id, claims)
    assert reply.status == expected, reply.raw
    if expected == 404:
        assert reply.headers["content-type"] == "application/problem+json"
        assert patient_id not in reply.raw or reply.body["code"] == "not_found"
        assert "birthDate" not in reply.raw


def test_an_unknown_patient_is_404_like_a_foreign_one(api: Api, patient_id: str) -> None:
    unknown = _fhir(api, "0" * 32)
    foreign = _fhir(api, patient_id, OTHER_CLINICIAN)
    assert (unknown.status, foreign.status) == (404, 404)
    assert unknown.body["code"] == foreign.body["code"] == "not_found"


def test_the_answer_is_compact_json(api: Api, patient_id: str) -> None:
    reply = _fhir(api, patient_id)
    assert reply.status == 200
    assert json.loads(reply.raw) == reply.body
    assert ", " not in reply.raw[:200]
