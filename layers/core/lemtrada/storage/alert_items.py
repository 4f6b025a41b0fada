"""Alerts owed, as RegimenTable items (DESIGN 7 "Critical alerts at once").

An owed alert is written in the same TransactWriteItems as the finding or deviation it is about (the result's or
the infusion's write, whose conditions let each fact be stored once), so an alert is owed exactly when its fact
is stored. Whoever publishes it holds a claim first: the writer's is stored with the item (``holder`` = ``write``,
``lease`` = the write's time + ``WRITER_LEASE``), a drain's is a conditional update that succeeds only once the
lease before it has run out; publishing then deletes the item (conditioned on still holding it). One partition
per clinic, read with one Query by the drains:

| pk | sk | what |
|---|---|---|
| `ALERTS#<clinic>` | `OWED#<patient>#<ref>` | patient_id kind code severity date finding_id? owed_at holder lease |

``lease`` is epoch milliseconds (a number, compared with ``:now`` in the claim's condition); a claim given back
removes ``holder`` and ``lease``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Severity
from lemtrada.storage.ports import ALERT_WRITER, OwedAlert
from lemtrada.storage.wire import Raw, item_key

OWED_PREFIX = "OWED#"
WRITER = ALERT_WRITER
"""The holder named by the claim the write stores with its owed alert (drains use a fresh random holder each)."""
WRITER_LEASE = timedelta(seconds=60)
"""How long the writer's claim keeps the drains off: longer than the recording function lives (timeout 10 s) and
than one publish can last (``notify.publisher.PUBLISH_BOUND``), so a drain never takes an alert its writer may
still publish; a writer that crashed is drained at most this much + one minute later."""


def alerts_pk(clinic_id: str) -> str:
    return f"ALERTS#{clinic_id}"


def owed_sk(alert: Alert) -> str:
    return f"{OWED_PREFIX}{alert.patient_id}#{alert.ref}"


def millis(at: datetime) -> int:
    """A lease instant as epoch milliseconds (naive datetimes are UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def owed_item(alert: Alert, owed_at: datetime) -> Raw:
    """The owed alert as the write stores it: already claimed by the writer for ``WRITER_LEASE``."""
    item: Raw = {
        "pk": {"S": alerts_pk(alert.clinic_id)},
        "sk": {"S": owed_sk(alert)},
        "patient_id": {"S": alert.patient_id},
        "kind": {"S": alert.kind},
        "code": {"S": alert.code},
        "severity": {"S": alert.severity.value},
        "date": {"S": alert.date.isoformat()},
        "owed_at": {"S": owed_at.isoformat()},
        "holder": {"S": WRITER},
        "lease": {"N": str(millis(owed_at + WRITER_LEASE))},
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
    lease = raw.get("lease")
    holder = raw.get("holder")
    return OwedAlert(
        alert,
        datetime.fromisoformat(raw["owed_at"]["S"]),
        lease_until=None if lease is None else datetime.fromtimestamp(int(lease["N"]) / 1000, UTC),
        holder=None if holder is None else holder["S"],
    )


def owed_key(alert: Alert) -> Raw:
    return item_key(alerts_pk(alert.clinic_id), owed_sk(alert))


def claim_request(table: str, alert: Alert, holder: str, now: datetime, until: datetime) -> dict[str, Any]:
    """UpdateItem taking the alert for ``holder`` until ``until``: only if it is still owed and nobody holds a lease
    that runs past ``now`` (a lease that ran out belongs to a holder that died or gave up)."""
    return {
        "TableName": table,
        "Key": owed_key(alert),
        "UpdateExpression": "SET #h = :h, #l = :until",
        "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(#l) OR #l <= :now)",
        "ExpressionAttributeNames": {"#h": "holder", "#l": "lease"},
        "ExpressionAttributeValues": {
            ":h": {"S": holder},
            ":until": {"N": str(millis(until))},
            ":now": {"N": str(millis(now))},
        },
        "ReturnConsumedCapacity": "TOTAL",
    }


def release_request(table: str, alert: Alert, holder: str) -> dict[str, Any]:
    """UpdateItem giving the claim back (SNS refused): the next drain may take it at once."""
    return {
        "TableName": table,
        "Key": owed_key(alert),
        "UpdateExpression": "REMOVE #h, #l",
        "ConditionExpression": "#h = :h",
        "ExpressionAttributeNames": {"#h": "holder", "#l": "lease"},
        "ExpressionAttributeValues": {":h": {"S": holder}},
        "ReturnConsumedCapacity": "TOTAL",
    }


def sent_request(table: str, alert: Alert, holder: str | None) -> dict[str, Any]:
    """DeleteItem forgetting a published alert; with ``holder``, only while that holder still has it."""
    request: dict[str, Any] = {
        "TableName": table,
        "Key": owed_key(alert),
        "ConditionExpression": "attribute_exists(pk)",
        "ReturnConsumedCapacity": "TOTAL",
    }
    if holder is not None:
        request["ConditionExpression"] = "#h = :h"
        request["ExpressionAttributeNames"] = {"#h": "holder"}
        request["ExpressionAttributeValues"] = {":h": {"S": holder}}
    return request
