"""Monitoring schedule, milestones and patient status as of a date t (DESIGN 2.5).

Occurrence k of an item is due on D_k = T0 + (first_due + (k - 1) * cadence) months, always computed
from T0, while D_k <= M = L + 48 months. Its period [O_k, O_(k+1)) with O_k = D_k - lead decides which
result satisfies it: the first result dated inside the period, never a result from another period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter

from lemtrada.regimen.analytes import measured
from lemtrada.regimen.courses import infusions_until
from lemtrada.regimen.dates import add_months
from lemtrada.regimen.protocol import Audience, MonitoringItem, Protocol
from lemtrada.regimen.readiness import applies_to
from lemtrada.regimen.records import Infusion, PatientProfile, PatientRecord, PatientStatus, Result, ResultItem


class OccurrenceStatus(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    MISSED = "missed"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Occurrence:
    """``period_ends`` is O_(k+1), the first day that belongs to the next occurrence (exclusive)."""

    item: ResultItem
    k: int
    due_date: date
    window_opens: date
    period_ends: date
    status: OccurrenceStatus
    satisfied_by: str | None


@dataclass(frozen=True, slots=True)
class Milestone:
    code: str
    date: date
    reached: bool
    source: str


@dataclass(frozen=True, slots=True)
class Schedule:
    occurrences: tuple[Occurrence, ...]
    milestones: tuple[Milestone, ...]
    monitoring_ends: date | None
    status: PatientStatus


SlotDates = tuple[date, date, date]  # (D_k, O_k, O_(k+1)) for k = 1, 2, ...


@lru_cache(maxsize=1 << 14)
def slot_dates(t0: date, first_due: int, cadence: int, lead_days: int, end: date) -> tuple[SlotDates, ...]:
    """Due date, window opening and period end of every occurrence up to M (cached: one patient's
    monthly items, schedule, notices and next_check all ask for the same dates)."""
    lead = timedelta(days=lead_days)
    out = []
    offset = first_due
    due = add_months(t0, offset)
    while due <= end:
        following = add_months(t0, offset + cadence)
        out.append((due, due - lead, following - lead))
        offset += cadence
        due = following
    return tuple(out)


def item_dates(t0: date, end: date, spec: MonitoringItem, protocol: Protocol) -> tuple[SlotDates, ...]:
    return slot_dates(t0, spec.first_due_months, spec.cadence_months, protocol.lead_days, end)


def match_results(dates: Sequence[SlotDates], results: Sequence[Result]) -> list[Result | None]:
    """For each occurrence, the first result dated inside its period (results in date order)."""
    matched: list[Result | None] = []
    pointer = 0
    count = len(results)
    for _, opens, closes in dates:
        while pointer < count and results[pointer].date < opens:
            pointer += 1
        if pointer < count and results[pointer].date < closes:
            matched.append(results[pointer])
            while pointer < count and results[pointer].date < closes:
                pointer += 1
        else:
            matched.append(None)
    return matched


def occurrence_status(  # noqa: PLR0917 - hot path, called once per occurrence
    due: date, opens: date, closes: date, result: Result | None, on: date, grace: timedelta
) -> OccurrenceStatus:
    if result is not None and result.date <= on:
        return OccurrenceStatus.DONE
    if on < opens:
        return OccurrenceStatus.UPCOMING
    if on <= due + grace:
        return OccurrenceStatus.DUE
    if on < closes:
        return OccurrenceStatus.OVERDUE
    return OccurrenceStatus.MISSED


def group_results(results: Sequence[Result]) -> dict[ResultItem, list[Result]]:
    """Results per item in date order (the record keeps them sorted; out-of-order input is sorted here)."""
    grouped: dict[ResultItem, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.item, []).append(result)
    for items in grouped.values():
        if any(items[i].date > items[i + 1].date for i in range(len(items) - 1)):
            items.sort(key=lambda r: (r.date, r.result_id))
    return grouped


def milestones_for(
    profile: PatientProfile,
    infusions: Sequence[Infusion],
    cd4_results: Sequence[Result],
    on: date,
    protocol: Protocol,
    *,
    since: date | None = None,
    cd4_values: Sequence[float] | None = None,
) -> list[Milestone]:
    """Key dates from the given infusions (date order) and cd4 results.

    A milestone anchored on course n is dropped once course n+1 started on or before its date: it was
    never reached, and a later course brings its own (this is "while course 2 has not started").
    ``since``: milestones dated before it are left out (the sweep reads only the last weeks' milestones), so a
    course whose successor started by then contributes nothing and is not computed.
    ``cd4_values``: each cd4 result's count (``cd4_count``), when the caller already has them.
    """
    if not infusions:
        return []
    firsts: dict[int, date] = {}
    lasts: dict[int, date] = {}
    for infusion in infusions:
        firsts.setdefault(infusion.course, infusion.date)
        lasts[infusion.course] = infusion.date
    out: list[Milestone] = []
    floor = date.min if since is None else since

    def add(code: str, day: date, course: int) -> None:
        following = firsts.get(course + 1)
        if day >= floor and (following is None or following > day):
            out.append(Milestone(code, day, day <= on, protocol.source(code)))

    reproductive = applies_to_reproductive(profile)
    for course in sorted(lasts):
        following = firsts.get(course + 1)
        if following is not None and following <= floor:
            continue  # each of its milestones is before ``since`` or on or after the next course's start
        end = lasts[course]
        next_allowed = add_months(end, protocol.course_interval_months)
        if course == 1:
            add("course_2_due_soon", next_allowed - timedelta(days=protocol.course_due_soon_days), 1)
            add("course_2_due", next_allowed, 1)
        else:
            add("next_course_eligible", next_allowed, course)
        if reproductive:
            add("contraception_window_ends", add_months(end, protocol.contraception_months), course)
        may_stop = add_months(end, protocol.herpes_prophylaxis_months)
        if not protocol.herpes_prophylaxis_needs_cd4:
            add("herpes_prophylaxis_may_stop", may_stop, course)  # EU SmPC: E_n + 1 month, whatever the CD4
        elif following is None or following > may_stop:  # else it would be dropped whatever the cd4
            values = cd4_values if cd4_values is not None else (cd4_count(r, protocol) for r in cd4_results)
            threshold = protocol.cd4_threshold
            cd4 = next((r for r, v in zip(cd4_results, values, strict=True) if r.date > end and v >= threshold), None)
            if cd4 is not None:
                add("herpes_prophylaxis_may_stop", max(may_stop, cd4.date), course)
    last_day = add_months(infusions[-1].date, protocol.monitoring_months)
    if last_day + timedelta(days=1) >= floor:
        out.append(
            Milestone(
                "monitoring_complete",
                last_day + timedelta(days=1),
                last_day < on,
                protocol.source("monitoring_complete"),
            )
        )
    out.sort(key=_by_date_and_code)
    return out


def _by_date_and_code(milestone: Milestone) -> tuple[date, str]:
    return milestone.date, milestone.code


def cd4_count(result: Result, protocol: Protocol) -> float:
    """The cd4 count in cells/uL (the round-1 value or the cd4 analyte); -1 when the result has none."""
    value = measured(result, protocol).get("cd4")
    return -1.0 if value is None else value.value


def applies_to_reproductive(profile: PatientProfile) -> bool:
    return applies_to(Audience.FEMALE_REPRODUCTIVE, profile)


def status_of(profile: PatientProfile, infusions: Sequence[Infusion], on: date, protocol: Protocol) -> PatientStatus:
    if profile.withdrawn_on is not None and profile.withdrawn_on <= on:
        return PatientStatus.WITHDRAWN
    if not infusions:
        return PatientStatus.ENROLLED
    end = add_months(infusions[-1].date, protocol.monitoring_months)
    if on > end:
        return PatientStatus.COMPLETED
    current = infusions[-1].course
    count = sum(1 for i in infusions if i.course == current)
    if count < protocol.infusions_required(current):
        return PatientStatus.IN_TREATMENT
    return PatientStatus.MONITORING


def build_schedule(record: PatientRecord, as_of: date, protocol: Protocol) -> Schedule:
    infusions = infusions_until(record, as_of)
    status = status_of(record.profile, infusions, as_of, protocol)
    if not infusions:
        return Schedule((), (), None, status)
    results = group_results([r for r in record.results if r.date <= as_of])
    t0 = infusions[0].date
    end = add_months(infusions[-1].date, protocol.monitoring_months)
    grace = timedelta(days=protocol.grace_days)
    occurrences = []
    for spec in protocol.monitoring:
        if not applies_to(spec.who, record.profile):
            continue
        dates = item_dates(t0, end, spec, protocol)
        for k, ((due, opens, closes), result) in enumerate(
            zip(dates, match_results(dates, results.get(spec.item, ())), strict=True), start=1
        ):
            occurrences.append(
                Occurrence(
                    spec.item,
                    k,
                    due,
                    opens,
                    closes,
                    occurrence_status(due, opens, closes, result, as_of, grace),
                    result.result_id if result is not None else None,
                )
            )
    occurrences.sort(key=attrgetter("due_date"))  # stable: protocol order, then k, on equal dates
    milestones = milestones_for(record.profile, infusions, results.get(ResultItem.CD4, ()), as_of, protocol)
    return Schedule(tuple(occurrences), tuple(milestones), end, status)


def satisfied_occurrence(record: PatientRecord, result_id: str, as_of: date, protocol: Protocol) -> Occurrence | None:
    """The occurrence a result satisfied as of ``as_of``, or None (baseline, second in a period, too late)."""
    for occurrence in build_schedule(record, as_of, protocol).occurrences:
        if occurrence.satisfied_by == result_id:
            return occurrence
    return None


def patient_status(record: PatientRecord, as_of: date, protocol: Protocol) -> PatientStatus:
    return status_of(record.profile, infusions_until(record, as_of), as_of, protocol)
