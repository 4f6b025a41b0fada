"""An enrollment's ``history`` (DESIGN 8) for a patient two years into monitoring, dated relative to a day.

Course 1 two years before ``today`` (day 3 at 10 mg: a deviation that is history), course 2 a year later (its
first infusion names ``course: 2``), the pre-treatment checklist, monthly cbc and creatinine and quarterly thyroid
results; one critical finding long ago (platelets 15, four months after the first infusion: history) and one
``RECENT_DAYS`` before ``today`` (platelets 20: current, alerted, blocking readiness). Shared by the sample event,
the functional and end-to-end tests and the benchmark.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from dateutil.relativedelta import relativedelta

RECENT_DAYS = 10
"""The recent critical cbc is dated this many days before enrollment (current: within 30 days)."""
OLD_MONTHS = 4
"""The old critical cbc is dated this many months after the first infusion (history)."""
_PARIS = timezone(timedelta(hours=1))


def _infusion(day: date, dose: float = 12, **extra: Any) -> dict[str, Any]:
    start = datetime.combine(day, time(8, 40), _PARIS)
    return {
        "date": day.isoformat(),
        "dose_mg": dose,
        "diluted_at": (start - timedelta(minutes=30)).isoformat(),
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=4, minutes=15)).isoformat(),
        "route": "iv_infusion",
        "co_infused": False,
        "methylprednisolone_mg": 1000,
        "antiviral_prophylaxis": True,
        "observation_minutes": 120,
        "batch_number": f"LMT-{day.year % 100}-{day.month:02d}{day.day:02d}",
        **extra,
    }


def _cbc(day: date, platelets: float) -> dict[str, Any]:
    return {
        "item": "cbc",
        "date": day.isoformat(),
        "analytes": [
            {"code": "platelets", "value": platelets, "unit": "10*9/L", "low": 150, "high": 400},
            {"code": "hemoglobin", "value": 13.1, "unit": "g/dL"},
        ],
    }


def _lab(item: str, day: date, code: str, value: float, unit: str) -> dict[str, Any]:
    return {"item": item, "date": day.isoformat(), "analytes": [{"code": code, "value": value, "unit": unit}]}


def _entry(item: str, day: date, **extra: Any) -> dict[str, Any]:
    return {"item": item, "date": day.isoformat(), **extra}


def first_infusion(today: date) -> date:
    return today - relativedelta(years=2)


def old_critical_day(today: date) -> date:
    return first_infusion(today) + relativedelta(months=OLD_MONTHS)


def recent_critical_day(today: date) -> date:
    return today - timedelta(days=RECENT_DAYS)


def history(today: date) -> dict[str, Any]:
    """The ``history`` body: infusions and results, results first (the order does not matter to the API)."""
    t0 = first_infusion(today)
    second = t0 + relativedelta(years=1, days=7)
    before = t0 - timedelta(days=14)
    results: list[dict[str, Any]] = [
        _cbc(before, 260),
        _lab("creatinine", before, "creatinine", 71, "umol/L"),
        _lab("urinalysis", before, "urine_rbc", 0, "/[HPF]"),
        _lab("thyroid", before, "tsh", 1.6, "m[IU]/L"),
        _lab("liver", before, "alt", 21, "U/L"),
        _lab("urine_protein_creatinine", before, "upcr", 40, "mg/g"),
        _entry("skin_exam", before),
        _entry("immunizations", t0 - timedelta(days=60)),
        _entry("vzv", t0 - timedelta(days=100), status="antibody_positive"),
        _entry("tb_screening", t0 - timedelta(days=30), status="negative"),
        _entry("listeria_counseling", t0 - timedelta(days=7)),
        _entry("fetal_risk_education", t0 - timedelta(days=7)),
        _cbc(second - timedelta(days=10), 240),
        _lab("creatinine", second - timedelta(days=10), "creatinine", 73, "umol/L"),
    ]
    month = 1
    while (day := t0 + relativedelta(months=month)) < today - timedelta(days=RECENT_DAYS + 5):
        platelets = 15 if month == OLD_MONTHS else 230 + (month % 5) * 10
        results.append(_cbc(day, platelets))
        results.append(_lab("creatinine", day, "creatinine", 70 + month % 4, "umol/L"))
        if month % 3 == 0:
            results.append(_lab("thyroid", day, "tsh", 1.2 + (month % 4) / 10, "m[IU]/L"))
        month += 1
    results.append(_cbc(recent_critical_day(today), 20))
    infusions = [_infusion(t0 + timedelta(days=n), dose=10 if n == 2 else 12) for n in range(5)]
    infusions += [_infusion(second, course=2), *(_infusion(second + timedelta(days=n)) for n in (1, 2))]
    return {"infusions": infusions, "results": results}
