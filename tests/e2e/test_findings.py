"""DESIGN 7 on the local stack over HTTP: platelets at 15 raise a critical finding that shows on the patient,
blocks readiness, heads the clinic's digest once, and closes when a clinician acknowledges it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.test_patient_journey import Client, enrolled_patient

pytestmark = pytest.mark.e2e


def _sweep(stack: RunningStack, day: str, clinic_id: str) -> list[dict[str, Any]]:
    reply = requests.post(f"{stack.base_url}/_local/sweep", json={"date": day}, timeout=300)
    assert reply.status_code == 200, reply.text
    return [digest for digest in reply.json() if digest["clinic_id"] == clinic_id]


def test_a_critical_finding_end_to_end(local_stack: RunningStack) -> None:
    clinic_id = f"e2e-{uuid.uuid4().hex[:8]}"
    clinician, patient_id, today = enrolled_patient(local_stack, clinic_id, "E2E labs")
    base = f"/patients/{patient_id}"

    # A CBC with platelets at 15: the response carries the critical finding.
    day = (today - timedelta(days=1)).isoformat()
    cbc = {
        "item": "cbc",
        "date": day,
        "analytes": [
            {"code": "platelets", "value": 15, "unit": "10*3/uL", "low": 150, "high": 400},
            {"code": "hemoglobin", "value": 13.1, "unit": "g/dL"},
        ],
    }
    recorded = clinician.send("POST", f"{base}/results", cbc, key=f"cbc-{clinic_id}")
    assert recorded.status_code == 201, recorded.text
    (finding,) = recorded.json()["findings"]
    assert (finding["code"], finding["severity"]) == ("platelets_below_100", "critical")
    bad = clinician.send(
        "POST", f"{base}/results", {**cbc, "analytes": [{"code": "tsh", "value": 1, "unit": "m[IU]/L"}]}
    )
    assert bad.status_code == 422
    assert (bad.json()["code"], bad.json()["errors"][0]["field"]) == ("analyte_not_of_item", "analytes[0].code")

    # Shown on the patient, blocking readiness.
    patient = clinician.get(base).json()
    assert [f["finding_id"] for f in patient["open_findings"]] == [finding["finding_id"]]
    readiness = clinician.get(f"{base}/readiness").json()
    assert "open_critical_finding" in [b["code"] for b in readiness["blockers"]]

    # The sweep's digest carries it once, heading the e-mail; a re-run sends nothing.
    (digest,) = _sweep(local_stack, today.isoformat(), clinic_id)
    assert digest["items"][0]["kind"] == "finding"
    assert digest["items"][0]["finding_id"] == finding["finding_id"]
    assert [i["kind"] for i in digest["items"]].count("finding") == 1
    notices = requests.get(f"{local_stack.base_url}/_local/notices", timeout=10).json()
    (email,) = [
        n["email"] for n in notices if n["digest"]["clinic_id"] == clinic_id and n["attributes"]["kind"] == "digest"
    ]
    lines = [line for line in email.splitlines() if line.startswith("- ")]
    assert lines[0].startswith(f"- patient {patient['patient_id']}: CRITICAL platelets_below_100 ({day})")
    assert _sweep(local_stack, today.isoformat(), clinic_id) == []

    # Acknowledged: no longer open, readiness no longer blocked by it; the same again answers the stored one.
    ack = {"kind": "finding", "ref": finding["finding_id"], "action": "repeat_test_ordered"}
    first = clinician.send("POST", f"{base}/acknowledgements", ack, key=f"ack-{clinic_id}")
    assert first.status_code == 201, first.text
    assert {k: first.json()[k] for k in ("kind", "ref", "action")} == ack
    again = clinician.send("POST", f"{base}/acknowledgements", ack)
    assert (again.status_code, again.json()) == (200, first.json())
    assert clinician.get(base).json()["open_findings"] == []
    readiness = clinician.get(f"{base}/readiness").json()
    assert "open_critical_finding" not in [b["code"] for b in readiness["blockers"]]
    other = Client(local_stack, "clinicians", clinic_id=f"other-{clinic_id}")
    assert other.send("POST", f"{base}/acknowledgements", ack).status_code == 404
