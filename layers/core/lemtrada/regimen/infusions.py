"""Recording an infusion (DESIGN 2.4): validate, assign course and day, and list the rule breaks.

An infusion that happened is always stored; breaking a rule adds a deviation instead of refusing it.
Only requests that cannot be true (dated in the future, ending before they start...) are rejected.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from lemtrada.regimen.dates import add_months
from lemtrada.regimen.findings import Finding
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.readiness import assess_readiness
from lemtrada.regimen.records import Deviation, Infusion, InfusionRequest, InfusionRoute, PatientRecord


class InfusionRejected(Exception):
    """The request cannot describe a real infusion: answer 422 and store nothing."""

    def __init__(self, errors: tuple[Finding, ...]) -> None:
        super().__init__("; ".join(f"{e.code}: {e.detail}" for e in errors))
        self.errors = errors


class InfusionOnSameDate(Exception):
    """Another infusion is stored on that date: 409, unless ``is_replay`` says it is the same request."""

    def __init__(self, existing: Infusion) -> None:
        super().__init__(f"an infusion is already recorded on {existing.date}")
        self.existing = existing


def is_replay(existing: Infusion, request: InfusionRequest) -> bool:
    """Same facts as stored (instants compared as instants); a course override must match too."""
    return (
        existing.date == request.date
        and existing.dose_mg == request.dose_mg
        and existing.diluted_at == request.diluted_at
        and existing.started_at == request.started_at
        and existing.ended_at == request.ended_at
        and existing.route == request.route
        and existing.co_infused == request.co_infused
        and existing.methylprednisolone_mg == request.methylprednisolone_mg
        and existing.antiviral_prophylaxis == request.antiviral_prophylaxis
        and existing.observation_minutes == request.observation_minutes
        and existing.batch_number == request.batch_number
        and (request.course is None or request.course == existing.course)
    )


def _aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _validate(request: InfusionRequest, today: date, protocol: Protocol) -> list[Finding]:
    errors: list[Finding] = []

    def error(code: str, detail: str) -> None:
        errors.append(Finding(code, detail, protocol.source(code)))

    if request.date > today:
        error("date_in_future", f"infusion dated {request.date}, after today {today}")
    dose = request.dose_mg
    if not (math.isfinite(dose) and 0 < dose <= protocol.max_dose_mg):
        error("dose_out_of_range", f"dose {dose} mg is not in (0, {protocol.max_dose_mg:g}] mg")
    times = (request.diluted_at, request.started_at, request.ended_at)
    if not all(_aware(t) for t in times):
        error("naive_datetime", "diluted_at, started_at and ended_at need a UTC offset")
    else:
        if request.ended_at <= request.started_at:
            error("ended_not_after_started", f"ended {request.ended_at} is not after started {request.started_at}")
        if request.started_at < request.diluted_at:
            error("started_before_diluted", f"started {request.started_at} before diluted {request.diluted_at}")
    if request.observation_minutes is not None and request.observation_minutes < 0:
        error("observation_out_of_range", f"observation of {request.observation_minutes} minutes")
    mp = request.methylprednisolone_mg
    if not (math.isfinite(mp) and mp >= 0):
        error("premedication_out_of_range", f"methylprednisolone {mp} mg")
    return errors


def assign_course(
    previous: tuple[Infusion, ...], override: int | None, protocol: Protocol
) -> tuple[int, int] | Finding:
    """(course, day) for the next infusion after ``previous`` (date order); a Finding when the override is void.

    ``day`` is the infusion's position within its course (1 for the first infusion of the course).
    """
    if not previous:
        current, count = 0, 0
    else:
        current = previous[-1].course
        count = sum(1 for i in previous if i.course == current)
    full = current == 0 or count >= protocol.infusions_required(current)
    natural = (current + 1, 1) if full else (current, count + 1)
    if override is None:
        return natural
    if override == current + 1:
        return (override, 1)
    if override == current and not full:
        return (current, count + 1)
    if override == current:
        why = f"course {current} already has its {protocol.infusions_required(current)} infusions"
    else:
        why = f"the infusion can continue course {current} or start course {current + 1}"
        if current == 0:
            why = "the first infusion starts course 1"
    return Finding("invalid_course", f"course {override} makes no sense here: {why}", protocol.source("invalid_course"))


def plan_infusion(record: PatientRecord, request: InfusionRequest, today: date, protocol: Protocol) -> Infusion:
    """The infusion to store, with its course, day and deviations (raises on 422 and 409 cases)."""
    errors = _validate(request, today, protocol)
    previous = tuple(sorted((i for i in record.infusions if i.date < request.date), key=lambda i: i.date))
    assigned = assign_course(previous, request.course, protocol)
    if isinstance(assigned, Finding):
        errors.append(assigned)
    if errors:
        raise InfusionRejected(tuple(errors))
    for existing in record.infusions:
        if existing.date == request.date:
            raise InfusionOnSameDate(existing)
    assert not isinstance(assigned, Finding)
    course, day = assigned
    deviations = _deviations(record, previous, request, course=course, day=day, protocol=protocol)
    return Infusion(
        date=request.date,
        dose_mg=request.dose_mg,
        diluted_at=request.diluted_at,
        started_at=request.started_at,
        ended_at=request.ended_at,
        route=request.route,
        co_infused=request.co_infused,
        methylprednisolone_mg=request.methylprednisolone_mg,
        antiviral_prophylaxis=request.antiviral_prophylaxis,
        course=course,
        day=day,
        observation_minutes=request.observation_minutes,
        batch_number=request.batch_number,
        deviations=deviations,
    )


def _deviations(
    record: PatientRecord,
    previous: tuple[Infusion, ...],
    request: InfusionRequest,
    *,
    course: int,
    day: int,
    protocol: Protocol,
) -> tuple[Deviation, ...]:
    found: list[Deviation] = []

    def flag(code: str, detail: str) -> None:
        found.append(Deviation(code, protocol.severity(code), detail))

    if request.route != InfusionRoute.IV_INFUSION:
        flag("iv_push_or_bolus", f"route {request.route.value}")
    if day == 1 and course >= 2:
        prior = [i.date for i in previous if i.course == course - 1] or [i.date for i in previous]
        if prior:
            allowed = add_months(max(prior), protocol.course_interval_months)
            if request.date < allowed:
                flag("course_too_early", f"course {course} on {request.date}, not before {allowed}")
    if day == 1:
        readiness = assess_readiness(record, request.date, protocol)
        if readiness.blockers:
            codes = ", ".join(b.code for b in readiness.blockers)
            flag("started_with_blockers", f"blockers: {codes}")
    if record.profile.active_infection:
        # Every infusion day, not only a course's first (DESIGN 7): the flag is the current one.
        flag("infused_with_active_infection", "an active infection is flagged")
    if record.profile.pregnant_on(request.date):
        flag("pregnancy", f"pregnancy ongoing on {request.date}")
    if request.co_infused:
        flag("co_infusion", "other drugs infused through the same line")
    if request.dose_mg != protocol.dose_mg:
        flag("dose_not_12mg", f"dose {request.dose_mg:g} mg")
    infused = request.ended_at - request.started_at
    if infused < timedelta(minutes=protocol.min_infusion_minutes):
        flag("infusion_under_4h", f"infused over {_minutes(infused)} minutes")
    waited = request.started_at - request.diluted_at
    if waited > timedelta(minutes=protocol.max_dilution_to_start_minutes):
        flag("started_over_8h_after_dilution", f"started {_minutes(waited)} minutes after dilution")
    if day <= protocol.corticosteroid_days and request.methylprednisolone_mg < protocol.methylprednisolone_mg:
        flag("no_corticosteroid_premedication", f"methylprednisolone {request.methylprednisolone_mg:g} mg on day {day}")
    if day <= protocol.prophylaxis_start_days and not request.antiviral_prophylaxis:
        flag("no_herpes_prophylaxis", f"no antiviral prophylaxis on day {day}")
    if request.observation_minutes is not None and request.observation_minutes < protocol.min_observation_minutes:
        flag("observation_under_2h", f"observed {request.observation_minutes} minutes")
    if day >= 2 and previous:
        gap = (request.date - previous[-1].date).days - 1
        if gap >= 1:
            flag("course_interrupted", f"{gap} day(s) without infusion since {previous[-1].date}")
    if not (request.batch_number and request.batch_number.strip()):
        flag("no_batch_number", "batch number missing")
    if protocol.max_courses is not None and course > protocol.max_courses:
        flag("exceeds_max_courses", f"course {course}, label allows {protocol.max_courses}")
    return tuple(found)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
