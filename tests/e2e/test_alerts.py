"""DESIGN 7 "Critical alerts at once" on the local stack over HTTP: platelets at 15 are published as one alert
before the write's answer returns; a replay of the same Idempotency-Key sends no second one; the digest still
lists the finding, marked alerted."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.test_patient_journey import enrolled_patient

pytestmark = pytest.mark.e2e


def _notices(stack: RunningStack, clinic_id: str, kind: str) -> list[dict[str, Any]]:
    notices = requests.get(f"{stack.base_url}/_local/notices", timeout=10).json()
    return [n for n in notices if n["attributes"].get("clinic_id") == clinic_id and n["attributes"]["kind"] == kind]


def test_a_critical_result_is_alerted_once_as_the_write_returns(local_stack: RunningStack) -> None:
    clinic_id = f"e2e-alert-{uuid.uuid4().hex[:8]}"
    clinician, patient_id, today = enrolled_patient(local_stack, clinic_id, "E2E alerts")
    day = (today - timedelta(days=1)).isoformat()
    cbc = {"item": "cbc", "date": day, "analytes": [{"code": "platelets", "value": 15, "unit": "10*9/L"}]}

    recorded = clinician.send("POST", f"/patients/{patient_id}/results", cbc, key=f"alert-{clinic_id}")
    assert recorded.status_code == 201, recorded.text
    (finding,) = recorded.json()["findings"]
    (alert,) = _notices(local_stack, clinic_id, "alert")  # published before the answer came back
    assert alert["subject"] == f"Lemtrada ALERT clinic {clinic_id}"
    assert alert["attributes"] == {"clinic_id": clinic_id, "kind": "alert"}
    assert alert["digest"] == {
        "clinic_id": clinic_id,
        "kind": "alert",
        "patient_id": patient_id,
        "code": "platelets_below_100",
        "severity": "critical",
        "date": day,
        "finding_id": finding["finding_id"],
    }
    assert patient_id in alert["email"]
    assert "15" not in alert["email"].replace(day, "")  # no values

    replay = clinician.send("POST", f"/patients/{patient_id}/results", cbc, key=f"alert-{clinic_id}")
    assert replay.status_code == 201, replay.text
    assert replay.json() == recorded.json()
    assert len(_notices(local_stack, clinic_id, "alert")) == 1

    swept = requests.post(f"{local_stack.base_url}/_local/sweep", json={"date": today.isoformat()}, timeout=300)
    assert swept.status_code == 200, swept.text
    (digest,) = _notices(local_stack, clinic_id, "digest")
    (item,) = [i for i in digest["digest"]["items"] if i["kind"] == "finding"]
    assert (item["finding_id"], item["alerted"]) == (finding["finding_id"], True)
    assert len(_notices(local_stack, clinic_id, "alert")) == 1  # the sweep's drain found nothing left
