"""DESIGN 9 on the local stack: two clinics 17 hours apart (Los Angeles and Tokyo in winter), a patient each with a
phone; a month of hourly `POST /_local/remind {now}` runs sends each owed push once, at its clinic's
reminder_hour, and nothing else (`GET /_local/push` is what SNS accepted for the endpoints)."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.test_patient_journey import ENROLLMENT, Client, _infusion

pytestmark = pytest.mark.e2e

LOS_ANGELES, TOKYO = "America/Los_Angeles", "Asia/Tokyo"  # UTC-8 and UTC+9 in December and January


def _add_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _clinic_with_a_patient(stack: RunningStack, zone: str, reminder_hour: int) -> tuple[str, str, date]:
    """A clinic whose patient finished course 1 today (five infusions) and registered one phone."""
    clinic_id = f"e2e-remind-{uuid.uuid4().hex[:8]}"
    admin = Client(stack, "admins")
    body = {"name": "E2E reminders", "timezone": zone, "label": "US", "reminder_hour": reminder_hour}
    assert admin.send("PUT", f"/clinics/{clinic_id}", body).status_code == 201
    clinician = Client(stack, "clinicians", clinic_id=clinic_id)
    sub = f"e2e-patient-{uuid.uuid4().hex[:8]}"
    enrolled = clinician.send("POST", "/patients", {**ENROLLMENT, "patient_sub": sub})
    assert enrolled.status_code == 201, enrolled.text
    patient_id = enrolled.json()["patient_id"]
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    for offset in range(4, -1, -1):
        answer = clinician.send("POST", f"/patients/{patient_id}/infusions", _infusion(today - timedelta(days=offset)))
        assert answer.status_code == 201, answer.text
    patient = Client(stack, "patients", sub=sub)
    device = {"platform": "apns" if zone == TOKYO else "fcm", "token": f"tok{uuid.uuid4().hex}"}
    registered = patient.send("PUT", f"/me/devices/phone-{patient_id[:8]}", device)
    assert registered.status_code == 201, registered.text
    assert device["token"] not in registered.text
    return clinic_id, patient_id, today


def _remind_at(stack: RunningStack, instant: datetime) -> list[dict[str, Any]]:
    reply = requests.post(f"{stack.base_url}/_local/remind", json={"now": instant.isoformat()}, timeout=300)
    assert reply.status_code == 200, reply.text
    pushes: list[dict[str, Any]] = reply.json()["pushes"]
    return pushes


def test_a_month_of_hours_sends_each_owed_push_once_at_the_clinics_hour(local_stack: RunningStack) -> None:
    _, los_angeles, la_today = _clinic_with_a_patient(local_stack, LOS_ANGELES, 9)
    _, tokyo, tokyo_today = _clinic_with_a_patient(local_stack, TOKYO, 7)
    zones = {los_angeles: ZoneInfo(LOS_ANGELES), tokyo: ZoneInfo(TOKYO)}
    hours = {los_angeles: 9, tokyo: 7}
    start = datetime.now(UTC).replace(minute=5, second=0, microsecond=0)
    seen: list[tuple[str, str, date, int, dict[str, Any]]] = []
    for hour in range(31 * 24):
        instant = start + timedelta(hours=hour)
        for push in _remind_at(local_stack, instant):
            if push["patient_id"] in zones:
                local = instant.astimezone(zones[push["patient_id"]])
                seen.append((push["patient_id"], push["data"]["kind"], local.date(), local.hour, push))
    expected = set()
    for patient_id, today in ((los_angeles, la_today), (tokyo, tokyo_today)):
        window_opens = _add_month(today - timedelta(days=4)) - timedelta(days=7)
        expected |= {
            (patient_id, "infusion_warning", today + timedelta(days=1), hours[patient_id]),
            (patient_id, "due", window_opens, hours[patient_id]),
        }
    got = [(p, kind, day, hour) for p, kind, day, hour, _ in seen]
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert len(got) == len(set(got))  # each once
    for _, kind, _, _, push in seen:
        assert push["title"] == "Reminder"
        assert push["body"].endswith("Open the app.")
        assert "cbc" not in push["body"]
        if kind == "due":
            assert push["data"]["items"] == ["cbc", "creatinine", "liver", "urinalysis"]
    listed = requests.get(f"{local_stack.base_url}/_local/push", timeout=30).json()
    assert [(p["patient_id"], p["data"]["kind"]) for p in listed if p["patient_id"] in zones] == [
        (p, kind) for p, kind, _, _, _ in seen
    ]
