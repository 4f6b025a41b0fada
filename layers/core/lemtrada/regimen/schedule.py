"""Monitoring schedule, milestones and patient status as of a date t (DESIGN 2.5).

Occurrence k of an item is due on D_k = T0 + (first_due + (k - 1) * cadence) months, always computed
from T0, while D_k <= M = L + 48 months. Its period [O_k, O_(k+1)) with O_k = D_k - lead decides which
result satisfies it: the first result dated inside the period, never a result from another period.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from lemtrada.regimen.courses import infusions_until, results_until
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


@dataclass(frozen=True, slots=True)
class Slot:
    """One occurrence's dates and the result (from the given results) that satisfies it."""

    item: ResultItem
    k: int
    due_date: date
    window_opens: date
    period_ends: date
    result: Result | None


def monitoring_end(infusions: Sequence[Infusion], protocol: Protocol) -> date | None:
    return add_months(infusions[-1].date, protocol.monitoring_months) if infusions else None


def item_slots(
    t0: date, end: date, spec: MonitoringItem, results: Sequence[Result], protocol: Protocol
) -> Iterator[Slot]:
    """Occurrences of one item up to ``end`` (M); ``results`` are that item's results in date order."""
    lead = timedelta(days=protocol.lead_days)
    k = 1
    offset = spec.first_due_months
    due = add_months(t0, offset)
    pointer = 0
    while due <= end:
        following = add_months(t0, offset + spec.cadence_months)
        opens = due - lead
        closes = following - lead
        while pointer < len(results) and results[pointer].date < opens:
            pointer += 1
        satisfied = None
        if pointer < len(results) and results[pointer].date < closes:
            satisfied = results[pointer]
            while pointer < len(results) and results[pointer].date < closes:
                pointer += 1
        yield Slot(spec.item, k, due, opens, closes, satisfied)
        k += 1
        offset += spec.cadence_months
        due = following


def occurrence_status(slot: Slot, on: date, protocol: Protocol) -> OccurrenceStatus:
    if slot.result is not None and slot.result.date <= on:
        return OccurrenceStatus.DONE
    if on < slot.window_opens:
        return OccurrenceStatus.UPCOMING
    if on <= slot.due_date + timedelta(days=protocol.grace_days):
        return OccurrenceStatus.DUE
    if on < slot.period_ends:
        return OccurrenceStatus.OVERDUE
    return OccurrenceStatus.MISSED


def group_results(results: Sequence[Result]) -> dict[ResultItem, list[Result]]:
    grouped: dict[ResultItem, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.item, []).append(result)
    return grouped


def milestones_for(
    profile: PatientProfile,
    infusions: Sequence[Infusion],
    cd4_results: Sequence[Result],
    on: date,
    protocol: Protocol,
) -> list[Milestone]:
    """Key dates from the given infusions (date order) and cd4 results.

    A milestone anchored on course n is dropped once course n+1 started on or before its date: it was
    never reached, and a later course brings its own (this is "while course 2 has not started").
    """
    if not infusions:
        return []
    firsts: dict[int, date] = {}
    lasts: dict[int, date] = {}
    for infusion in infusions:
        firsts.setdefault(infusion.course, infusion.date)
        lasts[infusion.course] = infusion.date
    out: list[Milestone] = []

    def add(code: str, day: date, course: int) -> None:
        following = firsts.get(course + 1)
        if following is None or following > day:
            out.append(Milestone(code, day, day <= on, protocol.source(code)))

    reproductive = applies_to_reproductive(profile)
    for course in sorted(lasts):
        end = lasts[course]
        next_allowed = add_months(end, protocol.course_interval_months)
        if course == 1:
            add("course_2_due_soon", next_allowed - timedelta(days=protocol.course_due_soon_days), 1)
            add("course_2_due", next_allowed, 1)
        else:
            add("next_course_eligible", next_allowed, course)
        if reproductive:
            add("contraception_window_ends", add_months(end, protocol.contraception_months), course)
        cd4 = next(
            (r for r in cd4_results if r.date > end and r.value is not None and r.value >= protocol.cd4_threshold),
            None,
        )
        if cd4 is not None:
            add(
                "herpes_prophylaxis_may_stop",
                max(add_months(end, protocol.herpes_prophylaxis_months), cd4.date),
                course,
            )
    last_day = add_months(infusions[-1].date, protocol.monitoring_months)
    out.append(
        Milestone(
            "monitoring_complete", last_day + timedelta(days=1), last_day < on, protocol.source("monitoring_complete")
        )
    )
    out.sort(key=lambda m: (m.date, m.code))
    return out


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
    results = group_results(results_until(record, as_of))
    t0 = infusions[0].date
    end = add_months(infusions[-1].date, protocol.monitoring_months)
    occurrences = []
    for spec in protocol.monitoring:
        if not applies_to(spec.who, record.profile):
            continue
        for slot in item_slots(t0, end, spec, results.get(spec.item, ()), protocol):
            occurrences.append(
                Occurrence(
                    slot.item,
                    slot.k,
                    slot.due_date,
                    slot.window_opens,
                    slot.period_ends,
                    occurrence_status(slot, as_of, protocol),
                    slot.result.result_id if slot.result is not None else None,
                )
            )
    occurrences.sort(key=lambda o: (o.due_date, _ITEM_ORDER[o.item], o.k))
    milestones = milestones_for(record.profile, infusions, results.get(ResultItem.CD4, ()), as_of, protocol)
    return Schedule(tuple(occurrences), tuple(milestones), end, status)


_ITEM_ORDER = {item: index for index, item in enumerate(ResultItem)}


def satisfied_occurrence(record: PatientRecord, result_id: str, as_of: date, protocol: Protocol) -> Occurrence | None:
    """The occurrence a result satisfied as of ``as_of``, or None (baseline, second in a period, too late)."""
    for occurrence in build_schedule(record, as_of, protocol).occurrences:
        if occurrence.satisfied_by == result_id:
            return occurrence
    return None


def patient_status(record: PatientRecord, as_of: date, protocol: Protocol) -> PatientStatus:
    return status_of(record.profile, infusions_until(record, as_of), as_of, protocol)
