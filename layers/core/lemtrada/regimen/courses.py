"""Courses and the "as of t" view of a record, shared by the schedule, readiness and infusion rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.records import Infusion, PatientRecord, Result


@dataclass(frozen=True, slots=True)
class CourseSummary:
    course: int
    first_date: date
    last_date: date
    infusions: int
    required: int
    complete: bool


def infusions_until(record: PatientRecord, last: date) -> tuple[Infusion, ...]:
    """Infusions dated on or before ``last``, in date order (later ones do not exist yet)."""
    return tuple(sorted((i for i in record.infusions if i.date <= last), key=lambda i: i.date))


def infusions_before(record: PatientRecord, day: date) -> tuple[Infusion, ...]:
    return tuple(sorted((i for i in record.infusions if i.date < day), key=lambda i: i.date))


def results_until(record: PatientRecord, last: date) -> tuple[Result, ...]:
    return tuple(sorted((r for r in record.results if r.date <= last), key=lambda r: (r.date, r.result_id)))


def summarize(infusions: tuple[Infusion, ...], protocol: Protocol) -> tuple[CourseSummary, ...]:
    """One summary per course number present, in course order (infusions must be in date order)."""
    spans: dict[int, list[date]] = {}
    for infusion in infusions:
        spans.setdefault(infusion.course, []).append(infusion.date)
    out = []
    for course in sorted(spans):
        dates = spans[course]
        required = protocol.infusions_required(course)
        out.append(CourseSummary(course, min(dates), max(dates), len(dates), required, len(dates) >= required))
    return tuple(out)


def summarize_courses(record: PatientRecord, protocol: Protocol) -> tuple[CourseSummary, ...]:
    return summarize(tuple(sorted(record.infusions, key=lambda i: i.date)), protocol)
