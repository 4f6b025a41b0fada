"""DESIGN 10, care plan out, on the local stack over HTTP: a patient enrolled, infused and given a CBC with platelets
at 42 exports a FHIR R4 Bundle that validates, whose platelets Observation says critical low (LL), and that only the
patient's clinic and the patient may read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models import fhirelementfactory
from fhirclient.models.bundle import Bundle as R4Bundle

from tests.e2e.conftest import RunningStack
from tests.e2e.test_patient_journey import ENROLLMENT, TIMEZONE, Client, _infusion

pytestmark = pytest.mark.e2e


def test_care_plan_out_end_to_end(local_stack: RunningStack) -> None:
    clinic_id = f"e2e-{uuid.uuid4().hex[:8]}"
    patient_sub = str(uuid.uuid4())
    admin = Client(local_stack, "admins")
    clinician = Client(local_stack, "clinicians", clinic_id=clinic_id)
    patient = Client(local_stack, "patients", sub=patient_sub)
    stranger = Client(local_stack, "patients", sub=str(uuid.uuid4()))
    other_clinic = Client(local_stack, "clinicians", clinic_id=f"other-{clinic_id}")
    today = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date()

    clinic = admin.send("PUT", f"/clinics/{clinic_id}", {"name": "E2E FHIR", "timezone": TIMEZONE, "label": "US"})
    assert clinic.status_code == 201, clinic.text
    body = {**ENROLLMENT, "patient_sub": patient_sub, "external_ref": f"MRN-{clinic_id}"}
    enrolled = clinician.send("POST", "/patients", body)
    assert enrolled.status_code == 201, enrolled.text
    patient_id = enrolled.json()["patient_id"]
    base = f"/patients/{patient_id}"

    # Course 1 (five days, 40 days ago), then a CBC a month after T0 with platelets at 42.
    start = today - timedelta(days=40)
    for offset in range(5):
        infused = clinician.send("POST", f"{base}/infusions", _infusion(start + timedelta(days=offset)))
        assert infused.status_code == 201, infused.text
    cbc = {
        "item": "cbc",
        "date": (today - timedelta(days=8)).isoformat(),
        "analytes": [
            {"code": "platelets", "value": 42, "unit": "10*3/uL", "low": 150, "high": 400},
            {"code": "hemoglobin", "value": 13.1, "unit": "g/dL"},
        ],
    }
    recorded = clinician.send("POST", f"{base}/results", cbc)
    assert recorded.status_code == 201, recorded.text
    assert [f["code"] for f in recorded.json()["findings"]] == ["platelets_below_100"]

    reply = clinician.get(f"{base}/fhir")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].split(";")[0] == "application/fhir+json"
    bundle = reply.json()
    Bundle.model_validate(bundle)
    R4Bundle(bundle, strict=True)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        fhirelementfactory.FHIRElementFactory.instantiate(resource["resourceType"], resource)

    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds[:2] == ["Patient", "CarePlan"]
    patient_resource = bundle["entry"][0]["resource"]
    assert "name" not in patient_resource
    assert {i["system"]: i["value"] for i in patient_resource["identifier"]} == {
        "urn:lemtrada:patient-id": patient_id,
        "urn:lemtrada:external-ref": f"MRN-{clinic_id}",
    }
    plan = bundle["entry"][1]["resource"]
    assert plan["period"]["start"] == start.isoformat()
    schedule = clinician.get(f"{base}/schedule").json()
    tasks = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
    assert len(tasks) == len(schedule["occurrences"]) == len(plan["activity"])
    states = {f"{o['item']}:{o['k']}": o["status"] for o in schedule["occurrences"]}
    assert {t["identifier"][0]["value"]: t["businessStatus"]["text"] for t in tasks} == states
    assert states["cbc:1"] == "done"
    observations = {
        e["resource"]["code"]["text"]: e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    assert set(observations) == {"platelets", "hemoglobin"}
    assert observations["platelets"]["interpretation"][0]["coding"][0]["code"] == "LL"
    assert observations["platelets"]["code"]["coding"][0] == {"system": "http://loinc.org", "code": "777-3"}
    assert "interpretation" not in observations["hemoglobin"]

    # The patient reads its own; another clinic's clinician and another patient get 404, as for the profile.
    assert patient.get(f"{base}/fhir").status_code == 200
    for outsider in (other_clinic, stranger):
        refused = outsider.get(f"{base}/fhir")
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "birthDate" not in refused.text
