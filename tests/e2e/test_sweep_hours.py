"""DESIGN 8 "each clinic's digest at its own morning" on the local stack: hourly `POST /_local/sweep {now}` runs
send a Berlin clinic's and a New York clinic's digests each at its own digest_hour, once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.test_patient_journey import ENROLLMENT, Client, _infusion

pytestmark = pytest.mark.e2e


def _clinic_with_a_deviation(stack: RunningStack, zone: str, digest_hour: int) -> tuple[str, date]:
    """A clinic in ``zone`` whose patient was infused at 10 mg today (a deviation the sweep notifies)."""
    clinic_id = f"e2e-hours-{uuid.uuid4().hex[:8]}"
    admin = Client(stack, "admins")
    clinician = Client(stack, "clinicians", clinic_id=clinic_id)
    body = {"name": "E2E hours", "timezone": zone, "label": "US", "digest_hour": digest_hour}
    assert admin.send("PUT", f"/clinics/{clinic_id}", body).status_code == 201
    enrolled = clinician.send("POST", "/patients", ENROLLMENT)
    assert enrolled.status_code == 201, enrolled.text
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    infused = clinician.send(
        "POST", f"/patients/{enrolled.json()['patient_id']}/infusions", {**_infusion(today), "dose_mg": 10}
    )
    assert infused.status_code == 201, infused.text
    return clinic_id, today


def _sweep_at(stack: RunningStack, instant: datetime) -> list[dict[str, Any]]:
    reply = requests.post(f"{stack.base_url}/_local/sweep", json={"now": instant.isoformat()}, timeout=300)
    assert reply.status_code == 200, reply.text
    digests: list[dict[str, Any]] = reply.json()
    return digests


def test_each_clinic_gets_its_digest_at_its_own_digest_hour_once(local_stack: RunningStack) -> None:
    berlin, berlin_today = _clinic_with_a_deviation(local_stack, "Europe/Berlin", 6)
    new_york, new_york_today = _clinic_with_a_deviation(local_stack, "America/New_York", 7)

    def local(zone: str, day: date, hour: int) -> datetime:
        return datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone)).astimezone(UTC)

    runs = sorted(
        [
            local("Europe/Berlin", berlin_today, 5),
            local("Europe/Berlin", berlin_today, 6),
            local("Europe/Berlin", berlin_today, 7),
            local("America/New_York", new_york_today, 6),
            local("America/New_York", new_york_today, 7),
            local("America/New_York", new_york_today, 8),
        ]
    )
    sent: dict[datetime, set[str]] = {}
    for instant in runs:
        ours = {d["clinic_id"] for d in _sweep_at(local_stack, instant)} & {berlin, new_york}
        sent[instant] = ours
    assert sent[local("Europe/Berlin", berlin_today, 5)] == set()
    assert sent[local("Europe/Berlin", berlin_today, 6)] == {berlin}
    assert sent[local("America/New_York", new_york_today, 6)] == set()
    assert sent[local("America/New_York", new_york_today, 7)] == {new_york}
    assert sum(len(clinics) for clinics in sent.values()) == 2  # each once, nothing at the later hours
    later = local("America/New_York", new_york_today, 8) + timedelta(hours=1)
    assert {d["clinic_id"] for d in _sweep_at(local_stack, later)} & {berlin, new_york} == set()
