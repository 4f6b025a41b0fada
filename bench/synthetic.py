"""Synthetic but realistic patient histories, deterministic for a seed.

Treatment starts are spread over the six years before ``today``; each patient has 1 to 4 courses (later
courses 12 to 15 months apart, now and then interrupted or a little early); monitoring results are mostly
on time, some late, some missing; a few patients are withdrawn or report a pregnancy. Used by the engine
and sweep benchmarks and by the property tests.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_CORE = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from lemtrada.regimen.dates import add_months  # noqa: E402
from lemtrada.regimen.protocol import US_PROTOCOL, Audience, Protocol  # noqa: E402
from lemtrada.regimen.records import (  # noqa: E402
    Deviation,
    Diagnosis,
    Enrollment,
    Infusion,
    InfusionRoute,
    PatientProfile,
    PatientRecord,
    PregnancyEpisode,
    Result,
    ResultItem,
    Severity,
    Sex,
)

_BASELINE = (
    ResultItem.CBC,
    ResultItem.CREATININE,
    ResultItem.URINALYSIS,
    ResultItem.THYROID,
    ResultItem.LIVER,
    ResultItem.URINE_PROTEIN_CREATININE,
    ResultItem.SKIN_EXAM,
    ResultItem.LISTERIA_COUNSELING,
)


def _infusion(day: date, course: int, position: int, deviations: tuple[Deviation, ...] = ()) -> Infusion:
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    return Infusion(
        date=day,
        dose_mg=12.0,
        diluted_at=start - timedelta(minutes=45),
        started_at=start,
        ended_at=start + timedelta(hours=4, minutes=10),
        route=InfusionRoute.IV_INFUSION,
        co_infused=False,
        methylprednisolone_mg=1000.0,
        antiviral_prophylaxis=True,
        course=course,
        day=position,
        observation_minutes=120,
        batch_number=f"LOT{course}{position}",
        deviations=deviations,
    )


def synthetic_record(
    rng: random.Random, patient_id: str, today: date, protocol: Protocol = US_PROTOCOL
) -> PatientRecord:
    """One patient's record with everything dated on or before ``today``."""
    sex = Sex.FEMALE if rng.random() < 0.7 else Sex.MALE
    t0 = today - timedelta(days=rng.randint(0, 6 * 365))
    enrollment = Enrollment(
        birth_date=t0 - timedelta(days=rng.randint(20 * 365, 55 * 365)),
        sex=sex,
        reproductive_potential=sex == Sex.FEMALE and rng.random() < 0.6,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=rng.randint(2, 4),
        contraindications=frozenset(),
        enrolled_on=t0 - timedelta(days=rng.randint(60, 120)),
    )
    results: list[Result] = []
    counter = 0

    def result(item: ResultItem, day: date, value: float | None = None, status: str | None = None) -> None:
        nonlocal counter
        if day <= today:
            counter += 1
            results.append(Result(f"{patient_id}-r{counter}", item, day, value, None, status))

    for item in _BASELINE:
        result(item, t0 - timedelta(days=rng.randint(3, 25)))
    result(ResultItem.IMMUNIZATIONS, t0 - timedelta(days=rng.randint(50, 200)))
    result(ResultItem.VZV, t0 - timedelta(days=rng.randint(50, 200)), status="antibody_positive")
    result(ResultItem.TB_SCREENING, t0 - timedelta(days=rng.randint(10, 60)), status="negative")

    infusions: list[Infusion] = []
    courses = rng.choices((1, 2, 3, 4), weights=(15, 55, 20, 10))[0]
    start = t0
    for course in range(1, courses + 1):
        if start > today:
            break
        required = protocol.infusions_required(course)
        day = start
        for position in range(1, required + 1):
            if day > today:
                break
            deviations: tuple[Deviation, ...] = ()
            if position > 1 and rng.random() < 0.03:
                day += timedelta(days=rng.randint(1, 3))
                deviations = (Deviation("course_interrupted", Severity.MINOR, "gap"),)
            infusions.append(_infusion(day, course, position, deviations))
            day += timedelta(days=1)
        end = infusions[-1].date
        result(ResultItem.CD4, end + timedelta(days=rng.randint(30, 120)), value=rng.choice((150.0, 250.0, 400.0)))
        interval = rng.randint(12, 15) if rng.random() > 0.05 else 11
        start = add_months(end, interval) + timedelta(days=rng.randint(0, 20))

    if infusions:
        monitoring_end = add_months(infusions[-1].date, protocol.monitoring_months)
        last = min(today, monitoring_end)
        lateness = rng.random()
        for spec in protocol.monitoring:
            if spec.who == Audience.FEMALE and sex != Sex.FEMALE:
                continue
            offset = spec.first_due_months
            due = add_months(t0, offset)
            while due <= last:
                roll = rng.random()
                if roll < 0.07 + 0.1 * lateness:
                    pass  # missing
                elif roll < 0.2 + 0.1 * lateness:
                    result(spec.item, due + timedelta(days=rng.randint(8, 20)))  # late
                else:
                    result(spec.item, due + timedelta(days=rng.randint(-6, 6)))  # on time
                offset += spec.cadence_months
                due = add_months(t0, offset)

    pregnancies: tuple[PregnancyEpisode, ...] = ()
    if enrollment.reproductive_potential and infusions and rng.random() < 0.05:
        reported = infusions[-1].date + timedelta(days=rng.randint(150, 700))
        if reported <= today:
            ended = reported + timedelta(days=rng.randint(150, 280))
            pregnancies = (PregnancyEpisode(reported, ended if ended <= today else None),)
    withdrawn_on = None
    if rng.random() < 0.03:
        withdrawn_on = today - timedelta(days=rng.randint(0, 365))
        withdrawn_on = max(withdrawn_on, enrollment.enrolled_on)
    profile = PatientProfile(
        patient_id=patient_id,
        clinic_id=f"clinic-{rng.randint(1, 40)}",
        enrollment=enrollment,
        pregnancies=pregnancies,
        withdrawn_on=withdrawn_on,
    )
    results.sort(key=lambda r: (r.date, r.result_id))
    return PatientRecord(profile, tuple(infusions), tuple(results))


def synthetic_records(
    count: int, seed: int = 0, today: date | None = None, protocol: Protocol = US_PROTOCOL
) -> Iterator[PatientRecord]:
    """``count`` records, generated lazily (a large population need not sit in memory at once)."""
    rng = random.Random(seed)
    day = today or date(2026, 6, 1)
    for index in range(count):
        yield synthetic_record(rng, f"p{seed}-{index:07d}", day, protocol)
