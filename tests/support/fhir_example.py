"""The example care-plan Bundle in events/reading/care_plan_bundle.json, made by the real builder from a fixed record.

A unit test rebuilds it and fails when the committed file is stale; rewrite it with
``PYTHONPATH=layers/core:. .venv/bin/python -m tests.support.fhir_example``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lemtrada.regimen import US_PROTOCOL, add_result, build_schedule
from lemtrada.regimen.records import PatientRecord, ResultItem, Sex
from lemtrada.services.fhir_export import care_plan_bundle

from tests.unit.regimen.helpers import analyte, course, lab, profile, result

EXAMPLE = Path(__file__).resolve().parents[2] / "events" / "reading" / "care_plan_bundle.json"
PATIENT_ID = "3f6c0e9a8b2d4c71a5e4f0b9d8c7a6e5"
EXTERNAL_REF = "MRN-0042"
AS_OF = date(2026, 3, 20)
GENERATED_AT = datetime(2026, 3, 20, 7, 30, tzinfo=UTC)


def example_record() -> PatientRecord:
    """A man on monitoring since course 1 in January 2026: baseline labs, then a CBC with platelets at 42 (critical
    finding: LL), a normal creatinine in mg/dL, a urinalysis with haematuria (H) and a first TSH."""
    record = PatientRecord(profile(PATIENT_ID, sex=Sex.MALE, reproductive=False))
    record = course(record, "2026-01-12", 5)
    results = [
        result(ResultItem.SKIN_EXAM, "2025-12-01", rid="R00000000001"),
        lab(
            ResultItem.CBC,
            "2026-02-10",
            analyte("platelets", 42, "10*3/uL", low=150, high=400),
            analyte("neutrophils", 2.1),
            analyte("hemoglobin", 13.4, "g/dL"),
            rid="R00000000002",
        ),
        lab(ResultItem.CREATININE, "2026-02-10", analyte("creatinine", 0.9, "mg/dL"), rid="R00000000003"),
        lab(ResultItem.URINALYSIS, "2026-02-10", analyte("urine_rbc", 8), rid="R00000000004"),
        lab(ResultItem.CBC, "2026-03-11", analyte("platelets", 160), rid="R00000000005"),
    ]
    for entry in results:
        record, _ = add_result(record, entry, US_PROTOCOL)
    return record


def example_bundle() -> dict[str, Any]:
    record = example_record()
    schedule = build_schedule(record, AS_OF, US_PROTOCOL)
    return care_plan_bundle(record, schedule, US_PROTOCOL, external_ref=EXTERNAL_REF, generated_at=GENERATED_AT)


def render(bundle: dict[str, Any]) -> str:
    """The Bundle as JSON with one entry per line (about 220 entries: a readable file, a reviewable diff)."""
    head = {key: value for key, value in bundle.items() if key != "entry"}
    lines = [json.dumps(entry, ensure_ascii=False, separators=(",", ":")) for entry in bundle["entry"]]
    opening = json.dumps(head, ensure_ascii=False)[:-1]
    return opening + ', "entry": [\n' + ",\n".join(lines) + "\n]}\n"


if __name__ == "__main__":
    EXAMPLE.write_text(render(example_bundle()), encoding="utf-8")
    print(f"wrote {EXAMPLE}")
