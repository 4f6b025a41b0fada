"""Readiness for a course starting on S (DESIGN 2.3).

Each requirement is turned into the set of start dates on which it holds with the data recorded so far;
a blocker stands when S is outside its set, and the earliest start is the first day on or after S inside
every set. A set that never reaches past S (a missing lab, an ongoing pregnancy) makes it null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from lemtrada.regimen.dates import add_months, last_day_within_months
from lemtrada.regimen.findings import Finding
from lemtrada.regimen.history import is_history
from lemtrada.regimen.protocol import Audience, Check, Protocol, Requirement
from lemtrada.regimen.records import PatientProfile, PatientRecord, Result, ResultItem, Sex
from lemtrada.regimen.spans import (
    EVERY_DAY,
    NO_DAY,
    Spans,
    contains,
    day_before,
    first_on_or_after,
    intersect,
    normalize,
)


@dataclass(frozen=True, slots=True)
class Readiness:
    course: int
    ready: bool
    blockers: tuple[Finding, ...]
    earliest_start: date | None


def applies_to(who: Audience, profile: PatientProfile) -> bool:
    if who == Audience.ALL:
        return True
    if who == Audience.FEMALE:
        return profile.sex == Sex.FEMALE
    return profile.sex == Sex.FEMALE and profile.reproductive_potential


def _by_item(results: Sequence[Result]) -> dict[ResultItem, list[Result]]:
    grouped: dict[ResultItem, list[Result]] = {}
    for result in sorted(results, key=lambda r: (r.date, r.result_id)):
        grouped.setdefault(result.item, []).append(result)
    return grouped


def _recent(req: Requirement, item: ResultItem, results: dict[ResultItem, list[Result]]) -> Spans:
    spans = []
    for result in results.get(item, ()):
        if req.window_months is not None:
            spans.append((result.date, last_day_within_months(result.date, req.window_months)))
        else:
            spans.append((result.date, result.date + timedelta(days=req.window_days or 0)))
    return normalize(spans)


def _status_spans(req: Requirement, results: list[Result]) -> Spans:
    """Clear from an accepted entry's date plus its lead until a later entry says otherwise."""
    accepted = dict(req.accepted)
    spans = []
    for index, result in enumerate(results):
        if result.status not in accepted:
            continue
        start = result.date + timedelta(days=accepted[result.status])
        end = date.max
        for later in results[index + 1 :]:
            if later.date > result.date and later.status not in accepted:
                end = day_before(later.date)
                break
        spans.append((start, end))
    return normalize(spans)


def _window(req: Requirement, start: date) -> str:
    if req.window_months is not None:
        return f"[{start - relativedelta(months=req.window_months)}, {start}]"
    return f"[{start - timedelta(days=req.window_days or 0)}, {start}]"


def _evaluate(
    req: Requirement,
    record: PatientRecord,
    results: dict[ResultItem, list[Result]],
    *,
    course: int,
    last_infusion: date | None,
    start: date,
    protocol: Protocol,
) -> tuple[Spans, str]:
    """The days on which ``req`` holds, and what to tell a clinician when ``start`` is not one of them."""
    profile = record.profile
    match req.check:
        case Check.RECENT:
            spans = EVERY_DAY
            missing = []
            for item in req.items:
                item_spans = _recent(req, item, results)
                if not contains(item_spans, start):
                    missing.append(item.value)
                spans = intersect(spans, item_spans)
            return spans, f"no {', '.join(missing)} recorded in {_window(req, start)}"
        case Check.RECORDED_BEFORE:
            dates = [r.date for item in req.items for r in results.get(item, ())]
            if not dates:
                return NO_DAY, f"no {req.items[0].value} recorded"
            clears = min(dates) + timedelta(days=req.lead_days)
            when = f" at least {req.lead_days} days before the start" if req.lead_days else ""
            return ((clears, date.max),), f"{req.items[0].value} must be recorded{when}; clears on {clears}"
        case Check.STATUS:
            entries = [r for item in req.items for r in results.get(item, ())]
            spans = _status_spans(req, entries)
            latest = [r for r in entries if r.date <= start]
            if not latest:
                return spans, f"no {req.items[0].value} status recorded"
            last = latest[-1]
            accepted = ", ".join(f"{s}" + (f" ({d} days before)" if d else "") for s, d in req.accepted)
            return spans, f"{req.items[0].value} status {last.status} on {last.date}; needs {accepted}"
        case Check.NO_PREGNANCY:
            pregnant = normalize(
                (p.reported_on, date.max if p.ended_on is None else day_before(p.ended_on)) for p in profile.pregnancies
            )
            return _complement(pregnant), "a pregnancy is ongoing on the start date"
        case Check.NO_ACTIVE_INFECTION:
            return (NO_DAY if profile.active_infection else EVERY_DAY), "an active infection is flagged"
        case Check.INTERVAL:
            if last_infusion is None:
                return EVERY_DAY, ""
            clears = add_months(last_infusion, req.interval_months)
            return (
                ((clears, date.max),),
                f"last infusion on {last_infusion}; course {course} not before {clears}",
            )
        case Check.NO_OPEN_CRITICAL_FINDING:
            return _open_critical(record, start)
        case Check.COURSE_LIMIT:
            limit = protocol.max_courses
            over = limit is not None and course > limit
            return (NO_DAY if over else EVERY_DAY), f"course {course} exceeds the limit of {limit} courses"
    raise AssertionError(req.check)  # pragma: no cover


def _open_critical(record: PatientRecord, start: date) -> tuple[Spans, str]:
    """Blocked from the first open critical finding's date on (acknowledging it clears the blocker); a finding
    that is history (DESIGN 8: dated more than 30 days before enrollment) never blocks."""
    enrolled_on = record.profile.enrollment.enrolled_on
    found = [f for r in record.results for f in r.findings if f.open_critical and not is_history(f.date, enrolled_on)]
    if not found:
        return EVERY_DAY, ""
    first = min(f.date for f in found)
    standing = sorted((f for f in found if f.date <= start), key=lambda f: (f.date, f.finding_id))
    listed = ", ".join(f"{f.code} on {f.date} ({f.finding_id})" for f in standing)
    spans = NO_DAY if first == date.min else ((date.min, day_before(first)),)
    return spans, f"unacknowledged critical finding(s): {listed}"


def _complement(spans: Spans) -> Spans:
    out = []
    cursor: date | None = date.min
    for first, last in spans:
        if cursor is not None and first > cursor:
            out.append((cursor, day_before(first)))
        cursor = None if last == date.max else last + timedelta(days=1)
    if cursor is not None:
        out.append((cursor, date.max))
    return tuple(out)


def assess_readiness(record: PatientRecord, start: date, protocol: Protocol) -> Readiness:
    """Readiness of the next course (the one after every infusion dated before ``start``)."""
    before = sorted((i for i in record.infusions if i.date < start), key=lambda i: i.date)
    course = max((i.course for i in before), default=0) + 1
    last_infusion = before[-1].date if before else None
    requirements = protocol.course_one_requirements if course == 1 else protocol.later_course_requirements
    results = _by_item(record.results)
    blockers = []
    clear_days = EVERY_DAY
    for req in requirements:
        if not applies_to(req.who, record.profile):
            continue
        spans, detail = _evaluate(
            req, record, results, course=course, last_infusion=last_infusion, start=start, protocol=protocol
        )
        if not contains(spans, start):
            blockers.append(Finding(req.code, detail, req.source))
        clear_days = intersect(clear_days, spans)
    earliest = first_on_or_after(clear_days, start)
    return Readiness(course, not blockers, tuple(blockers), earliest)
