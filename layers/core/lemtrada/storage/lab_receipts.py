"""Items of the lab interfaces' receipts (DESIGN 10): one per delivered observation, in a partition of the clinic.

``LABIN#<clinic_id>`` / ``<key>``: the key is the lab's identifier of the observation (FHIR ``identifier[0]``) or
the HL7 message control id with the OBX's place. Written in the transaction that stores the observation, on the
condition that it is new, so a retried or concurrent delivery stores nothing twice. Outside the patient's
partition: the whole-record Query never reads them, and a replay is answered from them without reading a patient.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from lemtrada.storage.ports import LabReceipt
from lemtrada.storage.wire import Raw, item_key

PK_PREFIX = "LABIN#"
VALUE = "v"
MAX_PLAIN_KEY = 400
"""Longer keys are stored by their SHA-256 (a sort key holds at most 1 KB)."""


def receipts_pk(clinic_id: str) -> str:
    return f"{PK_PREFIX}{clinic_id}"


def receipt_sk(key: str) -> str:
    if len(key.encode("utf-8")) <= MAX_PLAIN_KEY:
        return f"K#{key}"
    return "H#" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def receipt_key(clinic_id: str, key: str) -> Raw:
    return item_key(receipts_pk(clinic_id), receipt_sk(key))


def receipt_item(clinic_id: str, receipt: LabReceipt) -> Raw:
    value = {
        "key": receipt.key,
        "patient_id": receipt.patient_id,
        "result_id": receipt.result_id,
        "date": receipt.date.isoformat(),
        "item": receipt.item,
        "analyte": receipt.analyte,
    }
    return {**receipt_key(clinic_id, receipt.key), VALUE: {"S": json.dumps(value, separators=(",", ":"))}}


def receipt_from_item(raw: Raw) -> LabReceipt:
    value: dict[str, Any] = json.loads(raw[VALUE]["S"])
    return LabReceipt(
        key=str(value["key"]),
        patient_id=str(value["patient_id"]),
        result_id=str(value["result_id"]),
        date=date.fromisoformat(str(value["date"])),
        item=str(value["item"]),
        analyte=str(value["analyte"]),
    )
