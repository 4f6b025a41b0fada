"""Records for storage tests: unique ids per call so tests can share one table (DynamoDB Local)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from lemtrada.regimen.records import (
    Analyte,
    Clinic,
    Contraindication,
    Deviation,
    Diagnosis,
    Enrollment,
    Infusion,
    InfusionRoute,
    Label,
    LabFinding,
    PatientProfile,
    PatientRecord,
    PregnancyEpisode,
    Result,
    ResultItem,
    Severity,
    Sex,
)
from lemtrada.storage.ports import AuditEntry, StoredPatient

_TICK = itertools.count()
_BASE = datetime(2026, 1, 1, tzinfo=UTC)
PARIS_WINTER = timezone(timedelta(hours=1))


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def audit(action: str = "test.write", target: str = "PROFILE", actor: str = "clinician-1") -> AuditEntry:
    """Entries get strictly increasing times, so the trail's order is the order of writes."""
    return AuditEntry(
        actor_sub=actor,
        actor_role="clinicians",
        at=_BASE + timedelta(seconds=next(_TICK)),
        action=action,
        target=target,
    )


def clinic(clinic_id: str | None = None, name: str = "North MS Centre") -> Clinic:
    return Clinic(clinic_id=clinic_id or uid("clinic"), name=name, timezone="Europe/Paris", label=Label.EU)


def profile(patient_id: str | None = None, clinic_id: str = "clinic-a", **changes: Any) -> PatientProfile:
    enrollment = Enrollment(
        birth_date=date(1988, 4, 2),
        sex=Sex.FEMALE,
        reproductive_potential=True,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=2,
        contraindications=frozenset({Contraindication.HYPERSENSITIVITY}),
        enrolled_on=date(2026, 1, 5),
        justification="two prior DMTs failed",
    )
    base = PatientProfile(
        patient_id=patient_id or uid("patient"),
        clinic_id=clinic_id,
        enrollment=enrollment,
        warnings=("pregnancy_test_needed",),
        pregnancies=(PregnancyEpisode(reported_on=date(2025, 3, 1), ended_on=date(2025, 11, 20)),),
    )
    return replace(base, **changes)


def infusion(day: date, course: int = 1, number: int = 1) -> Infusion:
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=PARIS_WINTER)
    return Infusion(
        date=day,
        dose_mg=12.0,
        diluted_at=start - timedelta(minutes=30),
        started_at=start,
        ended_at=start + timedelta(hours=4, minutes=5),
        route=InfusionRoute.IV_INFUSION,
        co_infused=False,
        methylprednisolone_mg=1000.0,
        antiviral_prophylaxis=True,
        course=course,
        day=number,
        observation_minutes=120,
        batch_number="B-77",
        deviations=(Deviation(code="late_dilution", severity=Severity.MINOR, detail="8h10"),),
    )


def result(day: date, item: ResultItem = ResultItem.CBC, value: float | None = 4.2) -> Result:
    return Result(result_id=uid("r"), item=item, date=day, value=value, unit="10^9/L")


def stored(
    prof: PatientProfile | None = None,
    *,
    sub: str | None = None,
    next_check: date | None = None,
    infusions: tuple[Infusion, ...] = (),
    results: tuple[Result, ...] = (),
) -> StoredPatient:
    return StoredPatient(
        record=PatientRecord(profile=prof or profile(), infusions=infusions, results=results),
        version=1,
        enrolled_at=datetime(2026, 1, 5, 10, 30, 15, 123456, tzinfo=PARIS_WINTER),
        patient_sub=sub,
        external_ref="MRN-1",
        next_check=next_check,
    )


def with_finding(stored: Result, code: str, severity: Severity) -> Result:
    """``stored`` with one more finding, as the rules add one when a later-typed result changes its history."""
    rid = stored.result_id
    found = LabFinding(f"{rid}:{code}", rid, stored.date, code, severity, f"{code} detail", "US PI 5.2")
    return replace(stored, findings=(*stored.findings, found))


def cbc(day: date, platelets: float, *findings: tuple[str, Severity]) -> Result:
    """A CBC with analytes (one with the lab's range) and, optionally, findings already raised on it."""
    rid = uid("r")
    return Result(
        result_id=rid,
        item=ResultItem.CBC,
        date=day,
        analytes=(
            Analyte("platelets", platelets, "10*9/L", low=150.0, high=400.0),
            Analyte("hemoglobin", 13.2, "g/dL"),
        ),
        findings=tuple(
            LabFinding(f"{rid}:{code}", rid, day, code, severity, f"{code} detail", "US PI 5.2 | IWG")
            for code, severity in findings
        ),
    )
