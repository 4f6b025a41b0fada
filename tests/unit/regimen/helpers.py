"""Builders for regimen tests: a valid enrollment, a clean infusion request, a ready record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lemtrada.regimen import US_PROTOCOL, Protocol, plan_infusion
from lemtrada.regimen.records import (
    Analyte,
    Diagnosis,
    Enrollment,
    InfusionRequest,
    InfusionRoute,
    PatientProfile,
    PatientRecord,
    Result,
    ResultItem,
    Sex,
)

D = date.fromisoformat


def enrollment(**changes: Any) -> Enrollment:
    base = Enrollment(
        birth_date=D("1990-05-01"),
        sex=Sex.FEMALE,
        reproductive_potential=True,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=2,
        contraindications=frozenset(),
        enrolled_on=D("2023-11-01"),
    )
    return replace(base, **changes)


def profile(patient_id: str = "p1", sex: Sex = Sex.FEMALE, reproductive: bool = True, **changes: Any) -> PatientProfile:
    return PatientProfile(
        patient_id=patient_id,
        clinic_id="c1",
        enrollment=enrollment(sex=sex, reproductive_potential=reproductive),
        **changes,
    )


def request(day: date, **changes: Any) -> InfusionRequest:
    """A request that breaks no rule (12 mg over 4h10, started 1h after dilution, premedicated, observed 2h)."""
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    base = InfusionRequest(
        date=day,
        dose_mg=12.0,
        diluted_at=start - timedelta(hours=1),
        started_at=start,
        ended_at=start + timedelta(hours=4, minutes=10),
        route=InfusionRoute.IV_INFUSION,
        co_infused=False,
        methylprednisolone_mg=1000.0,
        antiviral_prophylaxis=True,
        observation_minutes=120,
        batch_number="LOT-1",
    )
    return replace(base, **changes)


def result(item: ResultItem, day: date | str, rid: str | None = None, **changes: Any) -> Result:
    when = D(day) if isinstance(day, str) else day
    return Result(rid or f"{item.value}-{when.isoformat()}", item, when, **changes)


_LABS = (
    ResultItem.CBC,
    ResultItem.CREATININE,
    ResultItem.URINALYSIS,
    ResultItem.THYROID,
    ResultItem.LIVER,
    ResultItem.URINE_PROTEIN_CREATININE,
)


def checklist(start: date) -> tuple[Result, ...]:
    """Everything course 1 needs for a start on ``start``, each entry as late as it may be."""
    return (
        *(result(item, start - timedelta(days=10)) for item in _LABS),
        result(ResultItem.SKIN_EXAM, start - timedelta(days=100)),
        result(ResultItem.IMMUNIZATIONS, start - timedelta(days=60)),
        result(ResultItem.VZV, start - timedelta(days=400), status="history"),
        result(ResultItem.TB_SCREENING, start - timedelta(days=20), status="negative"),
        result(ResultItem.LISTERIA_COUNSELING, start - timedelta(days=5)),
        result(ResultItem.FETAL_RISK_EDUCATION, start - timedelta(days=5)),
    )


def pre_course_labs(start: date) -> tuple[Result, ...]:
    return tuple(result(item, start - timedelta(days=5)) for item in _LABS[:5])


def with_results(record: PatientRecord, *results: Result) -> PatientRecord:
    merged = sorted((*record.results, *results), key=lambda r: (r.date, r.result_id))
    return replace(record, results=tuple(merged))


def infuse(record: PatientRecord, day: date | str, protocol: Protocol = US_PROTOCOL, **changes: Any) -> PatientRecord:
    when = D(day) if isinstance(day, str) else day
    infusion = plan_infusion(record, request(when, **changes), when, protocol)
    merged = sorted((*record.infusions, infusion), key=lambda i: i.date)
    return replace(record, infusions=tuple(merged))


def course(record: PatientRecord, first: date | str, count: int, protocol: Protocol = US_PROTOCOL) -> PatientRecord:
    start = D(first) if isinstance(first, str) else first
    for offset in range(count):
        record = infuse(record, start + timedelta(days=offset), protocol)
    return record


def treated(start: str = "2024-01-15", courses: tuple[str, ...] = (), **profile_changes: Any) -> PatientRecord:
    """A ready patient with course 1 from ``start`` and further 3-day courses on the given dates."""
    first = D(start)
    record = PatientRecord(profile(**profile_changes), results=checklist(first))
    record = course(record, first, 5)
    for later in courses:
        record = with_results(record, *pre_course_labs(D(later)))
        record = course(record, later, 3)
    return record


def analyte(
    code: str, value: float, unit: str | None = None, *, low: float | None = None, high: float | None = None
) -> Analyte:
    """An analyte in the canonical unit unless ``unit`` is given."""
    spec = US_PROTOCOL.analyte(code)
    assert spec is not None, code
    return Analyte(code, value, unit or spec.canonical_unit, low, high)


def lab(item: ResultItem, day: date | str, *analytes: Analyte, rid: str | None = None) -> Result:
    when = D(day) if isinstance(day, str) else day
    return Result(rid or f"{item.value}-{when.isoformat()}", item, when, analytes=analytes)
