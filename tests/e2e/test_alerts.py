"""DESIGN 7 "Critical alerts at once" on the local stack over HTTP: platelets at 15 are published as one alert
before the write's answer returns; a replay of the same Idempotency-Key sends no second one; the digest still
lists the finding, marked alerted. An alert a dead writer left owed goes out with the minute drain
(`POST /_local/drain-alerts`, or the stack's own schedule) once its lease ran out, and only once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Severity
from lemtrada.storage import alert_items

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


def _owe(stack: RunningStack, alert: Alert, owed_at: datetime) -> None:
    """The owed item a write stores with its fact, written as a writer that then died would have left it."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{stack.dynamodb_port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    dynamodb.put_item(TableName="RegimenTable", Item=alert_items.owed_item(alert, owed_at))


def _drain(stack: RunningStack) -> dict[str, Any]:
    answer = requests.post(f"{stack.base_url}/_local/drain-alerts", timeout=60)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def test_an_alert_a_dead_writer_left_owed_goes_out_with_the_drain_once(local_stack: RunningStack) -> None:
    clinic_id = f"e2e-drain-{uuid.uuid4().hex[:8]}"
    _, patient_id, today = enrolled_patient(local_stack, clinic_id, "E2E alert drain")
    now = datetime.now(UTC)
    died = Alert(clinic_id, patient_id, "deviation", "iv_push_or_bolus", Severity.CRITICAL, today)
    _owe(local_stack, died, now - alert_items.WRITER_LEASE - timedelta(seconds=5))  # its lease ran out
    alive = Alert(clinic_id, patient_id, "deviation", "infused_with_active_infection", Severity.CRITICAL, today)
    _owe(local_stack, alive, now)  # a writer that may still be publishing: not the drain's yet

    report = _drain(local_stack)
    assert report["held"] >= 1
    (alert,) = _notices(local_stack, clinic_id, "alert")  # this run's, or the stack's own minute schedule's
    assert alert["digest"] == {
        "clinic_id": clinic_id,
        "kind": "alert",
        "patient_id": patient_id,
        "code": "iv_push_or_bolus",
        "severity": "critical",
        "date": today.isoformat(),
    }
    assert all(a["clinic_id"] != clinic_id or a["code"] == "iv_push_or_bolus" for a in report["alerts"])
    _drain(local_stack)
    assert len(_notices(local_stack, clinic_id, "alert")) == 1  # sent once; the live one is still held


def test_the_drain_route_answers_its_report(local_stack: RunningStack) -> None:
    report = _drain(local_stack)
    assert set(report) == {"sent", "failed", "held", "deferred", "oldest_owed_seconds", "alerts"}
    assert report["failed"] == 0
