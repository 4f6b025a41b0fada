"""The alert message: subject, attributes, e-mail text and default JSON (DESIGN 7); no values, no PHI."""

from __future__ import annotations

import json
from datetime import date

from lemtrada.notify.alert import AlertMessage
from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Severity

FINDING = Alert("c1", "p-7f3a", "finding", "platelets_below_100", Severity.CRITICAL, date(2026, 11, 30), "r1:p")
DEVIATION = Alert("c1", "p-7f3a", "deviation", "infused_with_active_infection", Severity.CRITICAL, date(2026, 11, 2))


def test_subject_and_attributes_route_it_as_an_alert_of_the_clinic() -> None:
    message = AlertMessage(FINDING)
    assert message.subject == "Lemtrada ALERT clinic c1"
    assert message.attributes() == {
        "clinic_id": {"DataType": "String", "StringValue": "c1"},
        "kind": {"DataType": "String", "StringValue": "alert"},
    }


def test_default_json_names_ids_code_severity_and_date() -> None:
    body = json.loads(AlertMessage(FINDING).body())
    assert json.loads(body["default"]) == {
        "clinic_id": "c1",
        "kind": "alert",
        "patient_id": "p-7f3a",
        "code": "platelets_below_100",
        "severity": "critical",
        "date": "2026-11-30",
        "finding_id": "r1:p",
    }
    assert "finding_id" not in json.loads(json.loads(AlertMessage(DEVIATION).body())["default"])


def test_email_names_patient_code_severity_and_date_only() -> None:
    text = json.loads(AlertMessage(FINDING).body())["email"]
    for part in ("p-7f3a", "platelets_below_100", "CRITICAL", "2026-11-30"):
        assert part in text
    assert "15" not in text  # no values
    assert "x10^9" not in text
    assert "deviation on the infusion of 2026-11-02" in AlertMessage(DEVIATION).email_text()
