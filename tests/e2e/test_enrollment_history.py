"""DESIGN 8 on the local stack over HTTP: a patient enrolled two years into monitoring with their history (an old
critical finding, which is history, and a recent one, within 30 days), then the nightly sweep. The digest holds no
history item, the recent finding is alerted once, the old one is stored acknowledged with action ``history`` and
shown in the profile."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.test_alerts import _notices
from tests.e2e.test_patient_journey import ENROLLMENT, TIMEZONE, Client
from tests.support.history import history, old_critical_day, recent_critical_day

pytestmark = pytest.mark.e2e


def _history_items(digest: dict[str, Any], schedule: dict[str, Any], enrolled_on: date) -> list[dict[str, Any]]:
    """The digest items that are history (DESIGN 8), judged from the schedule's own dates."""
    opens = {(o["item"], o["k"]): date.fromisoformat(o["window_opens"]) for o in schedule["occurrences"]}
    bad = []
    for item in digest["items"]:
        if item["kind"] == "occurrence":
            ends = opens.get((item["code"], item["k"] + 1))  # the period ends where the next one opens
            if ends is not None and ends <= enrolled_on:
                bad.append(item)
        elif item["kind"] == "milestone":
            if date.fromisoformat(item["date"]) < enrolled_on:
                bad.append(item)
        elif date.fromisoformat(item["date"]) < enrolled_on - timedelta(days=30):
            bad.append(item)
    return bad


def test_enrolling_with_history_then_sweeping_sends_no_history(local_stack: RunningStack) -> None:
    clinic_id = f"e2e-history-{uuid.uuid4().hex[:8]}"
    admin = Client(local_stack, "admins")
    clinician = Client(local_stack, "clinicians", clinic_id=clinic_id)
    clinic = admin.send("PUT", f"/clinics/{clinic_id}", {"name": "E2E history", "timezone": TIMEZONE, "label": "US"})
    assert clinic.status_code == 201, clinic.text
    # The clinic's today: the enrollment answers it as enrolled_on.
    probe = clinician.send("POST", "/patients", ENROLLMENT)
    assert probe.status_code == 201, probe.text
    today = date.fromisoformat(probe.json()["profile"]["enrolled_on"])

    body = {**ENROLLMENT, "external_ref": "E2E-HISTORY-1", "history": history(today)}
    key = f"history-{clinic_id}"
    enrolled = clinician.send("POST", "/patients", body, key=key)
    assert enrolled.status_code == 201, enrolled.text
    patient = enrolled.json()
    patient_id = patient["patient_id"]
    assert [c["course"] for c in patient["courses"]] == [1, 2]
    recent, old = recent_critical_day(today).isoformat(), old_critical_day(today).isoformat()
    (current,) = patient["open_findings"]
    assert (current["code"], current["date"]) == ("platelets_below_100", recent)
    (ack,) = patient["acknowledgements"]
    assert (ack["kind"], ack["action"]) == ("finding", "history")
    assert ack["ref"] != current["finding_id"]

    (alert,) = _notices(local_stack, clinic_id, "alert")  # the recent one, published as the write returned
    assert (alert["digest"]["finding_id"], alert["digest"]["date"]) == (current["finding_id"], recent)
    replay = clinician.send("POST", "/patients", body, key=key)
    assert replay.status_code == 201, replay.text
    assert replay.json()["patient_id"] == patient_id  # stored once

    swept = requests.post(f"{local_stack.base_url}/_local/sweep", json={"date": today.isoformat()}, timeout=300)
    assert swept.status_code == 200, swept.text
    (digest,) = _notices(local_stack, clinic_id, "digest")
    items = [i for i in digest["digest"]["items"] if i["patient_id"] == patient_id]
    assert items, digest["digest"]
    schedule = clinician.get(f"/patients/{patient_id}/schedule", as_of=today.isoformat())
    assert schedule.status_code == 200, schedule.text
    assert _history_items({"items": items}, schedule.json(), today) == []
    findings = [i for i in items if i["kind"] == "finding"]
    assert [(f["finding_id"], f["date"], f.get("alerted")) for f in findings] == [(current["finding_id"], recent, True)]
    assert not [i for i in items if i["kind"] == "deviation"]  # day 3 at 10 mg was two years ago: history
    assert len(_notices(local_stack, clinic_id, "alert")) == 1  # alerted once; the sweep's drain found nothing

    profile = clinician.get(f"/patients/{patient_id}")
    assert profile.status_code == 200, profile.text
    shown = profile.json()
    acks = [(a["kind"], a["ref"], a["action"]) for a in shown["acknowledgements"]]
    assert acks == [("finding", ack["ref"], "history")]
    assert [f["finding_id"] for f in shown["open_findings"]] == [current["finding_id"]]
    old_result = [
        o for o in schedule.json()["occurrences"] if o["item"] == "cbc" and any(f["date"] == old for f in o["findings"])
    ]
    assert old_result, "the old finding is shown on its result in the schedule"
