"""No PHI in logs: a whole clinic day through the real handlers under moto (enroll, subscribe, infusions,
results, readiness, schedule, worklist, a failed write), with every line the functions log captured and searched
for the birth date, the external reference, the patient's Cognito sub, the e-mail address and request bodies.
"""

from __future__ import annotations

import json
import logging

import pytest

from tests.functional.api.conftest import CLINIC, CLINICIAN, Api
from tests.security.gateway import send

BIRTH_DATE = "1979-03-14"
EXTERNAL_REF = "LYON-PHI-773105"
PATIENT_SUB = "phi-sub-5a1c9e"
EMAIL = "neuro.phi-digest@example.org"
JUSTIFICATION = "intolerant-of-natalizumab-PHI"
SENSITIVE = [BIRTH_DATE, "1979", EXTERNAL_REF, PATIENT_SUB, EMAIL, JUSTIFICATION, "LMT-PHI-0193"]


def test_a_clinic_day_logs_no_phi(
    api: Api, clinic: str, topic: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # every logger at the level the template gives the functions (INFO)
    enrolled = api.enroll(
        birth_date=BIRTH_DATE,
        external_ref=EXTERNAL_REF,
        patient_sub=PATIENT_SUB,
        prior_dmt_count=1,
        justification=JUSTIFICATION,
    )
    assert enrolled.status == 201, enrolled.raw
    patient = enrolled.body["patient_id"]
    for day in ("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"):
        assert api.infusion(patient, day, batch_number="LMT-PHI-0193").status == 201
    assert api.result(patient, "cbc", "2026-11-23", value=5.1, unit="g/L").status == 201
    body = json.dumps({"email": EMAIL}).encode()
    answer = send(
        "POST",
        f"/clinics/{CLINIC}/subscriptions",
        claims=CLINICIAN,
        headers={"content-type": "application/json"},
        body=body,
    )
    assert answer.status == 202, answer.body
    for path in (
        f"/patients/{patient}",
        f"/patients/{patient}/readiness",
        f"/patients/{patient}/schedule",
        f"/patients/{patient}/schedule.ics",
        f"/clinics/{CLINIC}/worklist",
    ):
        assert send("GET", path, claims=CLINICIAN).status == 200
    # refused writes log no body either
    refused = json.dumps({"birth_date": BIRTH_DATE, "external_ref": EXTERNAL_REF, "sex": "x"}).encode()
    assert (
        send("POST", "/patients", claims=CLINICIAN, headers={"content-type": "application/json"}, body=refused).status
        == 422
    )
    logged = capsys.readouterr()
    text = logged.out + logged.err + "\n".join(record.getMessage() for record in caplog.records)
    assert "lemtrada-regimen" in text  # the functions wrote their log and metric lines
    leaked = [value for value in SENSITIVE if value in text]
    assert leaked == []
