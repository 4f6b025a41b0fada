"""DESIGN 10 on the local stack over HTTP: a lab interface's token (`/_local/token` role `lab_interfaces`) delivers
the sample FHIR Bundle and the sample ORU^R01; the results, their findings and the alert show as for a clinician's
entry, and the same deliveries again store nothing new."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle as R4BBundle

from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack
from tests.e2e.test_patient_journey import Client, enrolled_patient

pytestmark = pytest.mark.e2e
EVENTS = ROOT / "events" / "lab_results"


def _post(stack: RunningStack, clinic_id: str, body: bytes, media: str) -> requests.Response:
    headers = {**stack.headers("lab_interfaces", clinic_id=clinic_id), "Content-Type": media}
    url = f"{stack.base_url}/clinics/{clinic_id}/lab-results"
    return requests.post(url, data=body, headers=headers, timeout=60)


def _results(clinician: Client, patient_id: str) -> list[dict[str, Any]]:
    schedule = clinician.get(f"/patients/{patient_id}").json()
    return list(schedule.get("open_findings", []))


def test_lab_deliveries_end_to_end(local_stack: RunningStack) -> None:
    clinic_id = f"e2e-{uuid.uuid4().hex[:8]}"
    clinician, patient_id, today = enrolled_patient(local_stack, clinic_id, "E2E lab interface")
    yesterday = (today - timedelta(days=1)).isoformat()
    document = json.loads((EVENTS / "cbc_tsh_bundle.fhir.json").read_text(encoding="utf-8"))
    for number, entry in enumerate(document["entry"]):
        entry["resource"]["effectiveDateTime"] = yesterday
        entry["resource"]["subject"] = {"identifier": {"system": "urn:lemtrada:patient-id", "value": patient_id}}
        entry["resource"]["identifier"][0]["value"] = f"{clinic_id}-{number}"
    bundle = json.dumps(document)

    answer = _post(local_stack, clinic_id, bundle.encode(), "application/fhir+json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/fhir+json")
    R4BBundle.model_validate(answer.json())
    assert [e["response"]["status"] for e in answer.json()["entry"]] == ["201 Created"] * 4
    findings = _results(clinician, patient_id)
    assert [f["code"] for f in findings] == ["platelets_below_100"]
    alerts = requests.get(f"{local_stack.base_url}/_local/notices", timeout=30).json()
    assert any(clinic_id in str(notice) and "platelets_below_100" in str(notice) for notice in alerts)

    again = _post(local_stack, clinic_id, bundle.encode(), "application/fhir+json")
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 4

    # The ORU: the same panel a day earlier, the patient named by its id in PID-3 (type PI).
    day = (today - timedelta(days=2)).strftime("%Y%m%d")
    message = (EVENTS / "cbc_tsh_oru_r01.hl7").read_text(encoding="utf-8")
    message = message.replace("BIO-20261120-000137", f"{clinic_id}-1")
    message = message.replace("LYON-000412^^^LYON^MR", f"{patient_id}^^^LEMTRADA^PI").replace("20261120", day)
    acked = _post(local_stack, clinic_id, message.encode(), "application/hl7-v2")
    assert acked.status_code == 200, acked.text
    assert acked.headers["Content-Type"].startswith("application/hl7-v2")
    assert acked.text.split("\r")[1] == f"MSA|AA|{clinic_id}-1"
    patient = clinician.get(f"/patients/{patient_id}").json()
    assert len(patient["open_findings"]) == 2  # the earlier CBC's platelets at 15 too
    replay = _post(local_stack, clinic_id, message.encode(), "application/hl7-v2")
    assert replay.text.split("\r")[1] == f"MSA|AA|{clinic_id}-1"
    assert len(clinician.get(f"/patients/{patient_id}").json()["open_findings"]) == 2

    # A clinician's token is not a lab interface's.
    headers = {**clinician.headers, "Content-Type": "application/fhir+json"}
    refused = requests.post(
        f"{local_stack.base_url}/clinics/{clinic_id}/lab-results", data=bundle, headers=headers, timeout=30
    )
    assert refused.status_code == 404
