"""Alerts owed, as RegimenTable items (DESIGN 7 "Critical alerts at once").

An owed alert is written in the same TransactWriteItems as the finding or deviation it is about (the result's or
the infusion's write, whose conditions let each fact be stored once), so an alert is owed exactly when its fact
is stored; publishing deletes it (conditionally: a second deleter learns it lost). One partition per clinic, read
with one Query by the drain of leftovers:

| pk | sk | what |
|---|---|---|
| `ALERTS#<clinic>` | `OWED#<patient_id>#<ref>` | patient_id, kind, code, severity, date, finding_id?, owed_at |
"""

from __future__ import annotations

from datetime import date, datetime

from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Severity
from lemtrada.storage.ports import OwedAlert
from lemtrada.storage.wire import Raw

OWED_PREFIX = "OWED#"


def alerts_pk(clinic_id: str) -> str:
    return f"ALERTS#{clinic_id}"


def owed_sk(alert: Alert) -> str:
    return f"{OWED_PREFIX}{alert.patient_id}#{alert.ref}"


def owed_item(alert: Alert, owed_at: datetime) -> Raw:
    item: Raw = {
        "pk": {"S": alerts_pk(alert.clinic_id)},
        "sk": {"S": owed_sk(alert)},
        "patient_id": {"S": alert.patient_id},
        "kind": {"S": alert.kind},
        "code": {"S": alert.code},
        "severity": {"S": alert.severity.value},
        "date": {"S": alert.date.isoformat()},
        "owed_at": {"S": owed_at.isoformat()},
    }
    if alert.finding_id is not None:
        item["finding_id"] = {"S": alert.finding_id}
    return item


def owed_from_item(clinic_id: str, raw: Raw) -> OwedAlert:
    finding = raw.get("finding_id")
    alert = Alert(
        clinic_id=clinic_id,
        patient_id=raw["patient_id"]["S"],
        kind=raw["kind"]["S"],
        code=raw["code"]["S"],
        severity=Severity(raw["severity"]["S"]),
        date=date.fromisoformat(raw["date"]["S"]),
        finding_id=None if finding is None else finding["S"],
    )
    return OwedAlert(alert, datetime.fromisoformat(raw["owed_at"]["S"]))
