"""A patient's journey through the local stack over HTTP with real tokens, as a clinician and the app meet it.

Dates are relative to the clinic's real today (the local stack runs on the real clock).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

TIMEZONE = "Europe/Paris"
TIMEOUT = 15


class Client:
    """One signed-in user of the API."""

    def __init__(self, stack: RunningStack, role: str, sub: str | None = None, clinic_id: str | None = None) -> None:
        self.base = stack.base_url
        self.headers = stack.headers(role, sub=sub, clinic_id=clinic_id)

    def get(self, path: str, **params: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", headers=self.headers, params=params, timeout=TIMEOUT)

    def send(self, method: str, path: str, body: Any, key: str | None = None) -> requests.Response:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        return requests.request(method, f"{self.base}{path}", headers=headers, json=body, timeout=TIMEOUT)


ENROLLMENT = {
    "birth_date": "1979-06-02",
    "sex": "male",
    "reproductive_potential": False,
    "diagnosis": "relapsing_remitting",
    "prior_dmt_count": 2,
    "contraindications": [],
}


def enrolled_patient(stack: RunningStack, clinic_id: str, clinic_name: str) -> tuple[Client, str, date]:
    """A new US clinic in TIMEZONE with one enrolled patient: its clinician, the patient id, the clinic's today."""
    admin = Client(stack, "admins")
    clinician = Client(stack, "clinicians", clinic_id=clinic_id)
    today = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date()
    clinic = admin.send("PUT", f"/clinics/{clinic_id}", {"name": clinic_name, "timezone": TIMEZONE, "label": "US"})
    assert clinic.status_code == 201, clinic.text
    enrolled = clinician.send("POST", "/patients", ENROLLMENT)
    assert enrolled.status_code == 201, enrolled.text
    return clinician, enrolled.json()["patient_id"], today


def _infusion(day: date) -> dict[str, Any]:
    iso = day.isoformat()
    return {
        "date": iso,
        "dose_mg": 12,
        "diluted_at": f"{iso}T08:00:00+01:00",
        "started_at": f"{iso}T08:30:00+01:00",
        "ended_at": f"{iso}T12:45:00+01:00",
        "route": "iv_infusion",
        "co_infused": False,
        "methylprednisolone_mg": 1000,
        "antiviral_prophylaxis": True,
        "observation_minutes": 120,
        "batch_number": "LMT-26-0042",
    }


def test_enroll_prepare_infuse_monitor(local_stack: RunningStack) -> None:
    clinic_id = f"e2e-{uuid.uuid4().hex[:8]}"
    patient_sub, stranger_sub = str(uuid.uuid4()), str(uuid.uuid4())
    admin = Client(local_stack, "admins")
    clinician = Client(local_stack, "clinicians", clinic_id=clinic_id)
    patient = Client(local_stack, "patients", sub=patient_sub)
    stranger = Client(local_stack, "patients", sub=stranger_sub)
    today = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date()
    start = today - timedelta(days=4)

    clinic = admin.send("PUT", f"/clinics/{clinic_id}", {"name": "E2E clinic", "timezone": TIMEZONE, "label": "US"})
    assert clinic.status_code == 201, clinic.text

    enrollment = {
        "birth_date": "1990-03-14",
        "sex": "female",
        "reproductive_potential": True,
        "diagnosis": "relapsing_remitting",
        "prior_dmt_count": 2,
        "contraindications": [],
        "patient_sub": patient_sub,
    }
    enrolled = clinician.send("POST", "/patients", enrollment, key=f"enroll-{clinic_id}")
    assert enrolled.status_code == 201, enrolled.text
    patient_id = enrolled.json()["patient_id"]
    base = f"/patients/{patient_id}"

    # The pre-treatment checklist, then readiness for the first day.
    checklist: list[tuple[str, date, dict[str, Any]]] = [
        *((item, start - timedelta(days=10), {}) for item in ("cbc", "creatinine", "urinalysis", "thyroid", "liver")),
        ("urine_protein_creatinine", start - timedelta(days=10), {}),
        ("skin_exam", start - timedelta(days=20), {}),
        ("immunizations", start - timedelta(days=60), {}),
        ("vzv", start - timedelta(days=60), {"status": "antibody_positive"}),
        ("tb_screening", start - timedelta(days=20), {"status": "negative"}),
        ("listeria_counseling", start - timedelta(days=5), {}),
        ("fetal_risk_education", start - timedelta(days=5), {}),
    ]
    for item, day, extra in checklist:
        recorded = clinician.send("POST", f"{base}/results", {"item": item, "date": day.isoformat(), **extra})
        assert recorded.status_code == 201, (item, recorded.text)
    readiness = patient.get(f"{base}/readiness", start=start.isoformat())
    assert readiness.status_code == 200, readiness.text
    assert readiness.json()["ready"] is True, readiness.json()["blockers"]

    # Five infusions of course 1, the first one retried with its key.
    for offset in range(5):
        day = start + timedelta(days=offset)
        reply = clinician.send("POST", f"{base}/infusions", _infusion(day), key=f"inf-{patient_id}-{offset}")
        assert reply.status_code == 201, reply.text
        assert (reply.json()["course"], reply.json()["day"], reply.json()["deviations"]) == (1, offset + 1, [])
    retried = clinician.send("POST", f"{base}/infusions", _infusion(start), key=f"inf-{patient_id}-0")
    assert retried.status_code == 201
    assert clinician.send("POST", f"{base}/infusions", _infusion(start)).status_code == 200  # identical replay

    result = clinician.send("POST", f"{base}/results", {"item": "cbc", "date": today.isoformat(), "value": 4.2})
    assert result.status_code == 201, result.text

    # The schedule as the patient sees it, and the clinic's worklist when the first labs are due.
    schedule = patient.get(f"{base}/schedule")
    assert schedule.status_code == 200, schedule.text
    first = schedule.json()["occurrences"][0]
    assert first["item"] == "cbc"
    assert first["k"] == 1
    assert patient.get(f"{base}/schedule.ics").text.startswith("BEGIN:VCALENDAR")
    profile = clinician.get(base).json()
    assert profile["status"] == "monitoring"
    assert profile["courses"][0]["complete"] is True
    worklist = clinician.get(f"/clinics/{clinic_id}/worklist", date=first["due_date"])
    assert worklist.status_code == 200, worklist.text
    rows = {row["patient_id"]: row for row in worklist.json()["patients"]}
    assert ("occurrence", "cbc", "cbc:1") in {(i["kind"], i["code"], i["ref"]) for i in rows[patient_id]["items"]}
    # the clinic's today comes from the projection the writes above kept: grouped, counted, paged
    today_list = clinician.get(f"/clinics/{clinic_id}/worklist", limit="1")
    assert today_list.status_code == 200, today_list.text
    body = today_list.json()
    assert set(body) == {"clinic_id", "date", "counts", "patients", "next_cursor"}
    assert len(body["patients"]) <= 1
    assert body["counts"]["patients"] >= len(body["patients"])
    listed = clinician.get("/patients").json()["patients"]
    assert {row["patient_id"]: row["status"] for row in listed}[patient_id] == "monitoring"

    me = patient.get("/me")
    assert me.status_code == 200
    assert me.json()["patient"]["patient_id"] == patient_id

    # Another patient sees nothing of this one, and has no record of its own.
    for path in (base, f"{base}/schedule", f"{base}/readiness", f"{base}/schedule.ics", "/me"):
        denied = stranger.get(path)
        assert denied.status_code == 404, path
        assert denied.headers["content-type"] == "application/problem+json"
