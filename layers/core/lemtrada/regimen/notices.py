"""What the nightly sweep owes a clinic about one patient (DESIGN 2.6), and when it next will.

States, not events, drive notices: on date t an occurrence is owed in its current state (due, overdue or
missed) unless that state's key was sent; a reached milestone is owed unless sent, superseded by a later
milestone of its chain, or older than the protocol's catch-up horizon; a deviation is owed from its
infusion date until sent; an unacknowledged finding from its result's date until sent (with or without
infusions: pre-treatment labs raise findings too). ``next_check`` finds the first day anything is owed from
each notice's own window of days, never by stepping through the calendar.

History is not news (DESIGN 8, ``regimen.history``): an occurrence whose period ended before ``enrolled_on``,
a milestone dated before it, and a deviation or finding dated more than 30 days before it are never owed, on
any date, whatever ``sent`` holds; ``notices_due`` and ``next_check`` skip them alike, so they stay exact
about each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, NamedTuple

from lemtrada.regimen.courses import infusions_until
from lemtrada.regimen.dates import ONE_DAY, add_months
from lemtrada.regimen.history import is_history, milestone_is_history, occurrence_is_history
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.readiness import applies_to
from lemtrada.regimen.records import Infusion, LabFinding, PatientRecord, Result, ResultItem, Severity
from lemtrada.regimen.safety import finding_is_open
from lemtrada.regimen.schedule import (
    Milestone,
    OccurrenceStatus,
    group_results,
    item_dates,
    match_results,
    milestones_for,
    occurrence_status,
)

NoticeKind = Literal["occurrence", "milestone", "deviation", "finding"]

_OWED_STATES = (OccurrenceStatus.DUE, OccurrenceStatus.OVERDUE, OccurrenceStatus.MISSED)


@dataclass(frozen=True, slots=True)
class Notice:
    """One digest line. ``key`` identifies it forever: a key in ``sent`` is never owed again."""

    key: str
    patient_id: str
    kind: NoticeKind
    code: str
    k: int | None = None
    state: str | None = None
    due_date: date | None = None
    date: date | None = None
    severity: Severity | None = None
    finding_id: str | None = None
    alerted: bool = False  # a critical, current finding or deviation: its alert went out when it was stored

    def to_digest_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"patient_id": self.patient_id, "kind": self.kind, "code": self.code}
        if self.k is not None:
            item["k"] = self.k
        if self.state is not None:
            item["state"] = self.state
        if self.due_date is not None:
            item["due_date"] = self.due_date.isoformat()
        if self.date is not None:
            item["date"] = self.date.isoformat()
        if self.severity is not None:
            item["severity"] = self.severity.value
        if self.finding_id is not None:
            item["finding_id"] = self.finding_id
        if self.alerted:
            item["alerted"] = True
        return item


def occurrence_key(patient_id: str, item: str, k: int, state: str) -> str:
    return f"{patient_id}#occurrence#{item}#{k}#{state}"


def milestone_key(patient_id: str, code: str, day: date) -> str:
    return f"{patient_id}#milestone#{code}#{day.isoformat()}"


def deviation_key(patient_id: str, code: str, infusion_date: date) -> str:
    return f"{patient_id}#deviation#{code}#{infusion_date.isoformat()}"


def finding_key(patient_id: str, finding_id: str) -> str:
    return f"{patient_id}#finding#{finding_id}"


_ESCALATIONS = ("overdue", "missed")


def settled_keys(patient_id: str, sent: Iterable[str], acknowledged: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Notice keys to treat as sent: the marks, plus what acknowledgements settle (DESIGN 7). ``acknowledged`` is
    (kind, ref) pairs: a deviation's ref ``<infusion date>:<code>`` settles its notice; an occurrence's ref
    ``<item>:<k>`` settles its overdue and missed notices, so it escalates no further. Acknowledged findings are
    settled by their ``acknowledged`` flag on the record, not here."""
    out = set(sent)
    for kind, ref in acknowledged:
        if kind == "deviation":
            day, _, code = ref.partition(":")
            out.add(deviation_key(patient_id, code, date.fromisoformat(day)))
        elif kind == "occurrence":
            item, _, k = ref.rpartition(":")
            out.update(occurrence_key(patient_id, item, int(k), state) for state in _ESCALATIONS)
    return frozenset(out)


class _Period(NamedTuple):
    """An occurrence's period end, as ``occurrence_is_history`` reads it (the engine's loops hold bare dates).
    Periods follow each other, so an item's history occurrences are a prefix: the loops ask until one is not."""

    period_ends: date


def _finding_owed(found: LabFinding, pid: str, enrolled_on: date, sent: frozenset[str]) -> bool:
    return finding_is_open(found, enrolled_on) and finding_key(pid, found.finding_id) not in sent


def _owed_findings(record: PatientRecord, on: date, sent: frozenset[str]) -> list[Notice]:
    """Unacknowledged findings of results dated on or before ``on`` not yet sent (acknowledged ones and history
    are not news). Owed with or without infusions: pre-treatment labs raise findings too."""
    pid = record.profile.patient_id
    enrolled_on = record.profile.enrollment.enrolled_on
    out = []
    for result in sorted(
        (r for r in record.results if r.date <= on and r.findings), key=lambda r: (r.date, r.result_id)
    ):
        for found in result.findings:
            if _finding_owed(found, pid, enrolled_on, sent):
                out.append(
                    Notice(
                        finding_key(pid, found.finding_id),
                        pid,
                        "finding",
                        found.code,
                        date=found.date,
                        severity=found.severity,
                        finding_id=found.finding_id,
                        alerted=found.severity == Severity.CRITICAL,  # current: its alert went out when stored
                    )
                )
    return out


def _superseded(milestone: Milestone, reached: Sequence[Milestone], protocol: Protocol) -> bool:
    for chain in protocol.milestone_chains:
        if milestone.code in chain:
            later = chain[chain.index(milestone.code) + 1 :]
            if any(m.code in later and m.date >= milestone.date for m in reached):
                return True
    return False


def notices_due(record: PatientRecord, on: date, sent: frozenset[str], protocol: Protocol) -> tuple[Notice, ...]:
    """Notices owed on ``on``: occurrences in date order, then milestones, then deviations, then findings."""
    profile = record.profile
    if profile.withdrawn_on is not None and profile.withdrawn_on <= on:
        return ()
    infusions = infusions_until(record, on)
    findings = _owed_findings(record, on, sent)
    if not infusions:
        return tuple(findings)
    pid = profile.patient_id
    enrolled_on = profile.enrollment.enrolled_on
    results = group_results([r for r in record.results if r.date <= on])
    t0 = infusions[0].date
    end = add_months(infusions[-1].date, protocol.monitoring_months)
    grace = timedelta(days=protocol.grace_days)
    owed: list[tuple[date, int, Notice]] = []
    for order, spec in enumerate(protocol.monitoring):
        if not applies_to(spec.who, profile):
            continue
        dates = item_dates(t0, end, spec, protocol)
        if not dates or on < dates[0][1]:
            continue
        item = spec.item.value
        past = True  # still inside the item's history prefix
        for k, ((due, opens, closes), result) in enumerate(
            zip(dates, match_results(dates, results.get(spec.item, ())), strict=True), start=1
        ):
            if opens > on:
                break
            if past:
                if occurrence_is_history(_Period(closes), enrolled_on):
                    continue
                past = False
            status = occurrence_status(due, opens, closes, result, on, grace)
            if status in _OWED_STATES:
                key = occurrence_key(pid, item, k, status.value)
                if key not in sent:
                    owed.append((due, order, Notice(key, pid, "occurrence", item, k, status.value, due)))
    owed.sort(key=lambda entry: (entry[0], entry[1]))
    out = [notice for _, _, notice in owed]
    milestones = milestones_for(profile, infusions, results.get(ResultItem.CD4, ()), on, protocol)
    reached = [m for m in milestones if m.reached]
    horizon = on - timedelta(days=protocol.milestone_catch_up_days)
    for milestone in reached:
        if milestone.date < horizon or milestone_is_history(milestone, enrolled_on):
            continue
        if _superseded(milestone, reached, protocol):
            continue
        key = milestone_key(pid, milestone.code, milestone.date)
        if key not in sent:
            out.append(Notice(key, pid, "milestone", milestone.code, date=milestone.date))
    for infusion in infusions:
        if is_history(infusion.date, enrolled_on):
            continue
        for deviation in infusion.deviations:
            key = deviation_key(pid, deviation.code, infusion.date)
            if key not in sent:
                out.append(
                    Notice(
                        key,
                        pid,
                        "deviation",
                        deviation.code,
                        date=infusion.date,
                        severity=deviation.severity,
                        alerted=deviation.severity == Severity.CRITICAL,  # current: alerted when stored
                    )
                )
    return (*out, *findings)


class _Earliest:
    """The earliest owed day found so far, among days in [low, high] (high exclusive of withdrawal)."""

    def __init__(self, low: date, high: date) -> None:
        self.low = low
        self.high = high
        self.best: date | None = None

    def offer(self, first: date, last: date) -> None:
        first = max(first, self.low)
        last = min(last, self.high)
        if first <= last and (self.best is None or first < self.best):
            self.best = first

    def could_improve(self, first: date, last: date) -> bool:
        first = max(first, self.low)
        return first <= min(last, self.high) and (self.best is None or first < self.best)

    def beaten_by(self, day: date) -> bool:
        return self.best is not None and self.best <= day


def next_check(
    record: PatientRecord, sent: frozenset[str], protocol: Protocol, after: date | None = None
) -> date | None:
    """First day (> ``after``) on which ``notices_due`` is non-empty; None when nothing can be owed again."""
    profile = record.profile
    infusions = tuple(sorted(record.infusions, key=lambda i: i.date))
    low = date.min if after is None else after + ONE_DAY
    high = date.max if profile.withdrawn_on is None else profile.withdrawn_on - ONE_DAY
    if low > high:
        return None
    pid = profile.patient_id
    enrolled_on = profile.enrollment.enrolled_on
    earliest = _Earliest(low, high)
    for result in record.results:
        for found in result.findings:
            if _finding_owed(found, pid, enrolled_on, sent):
                earliest.offer(found.date, date.max)
    if not infusions:
        return earliest.best
    for infusion in infusions:
        if is_history(infusion.date, enrolled_on):
            continue
        for deviation in infusion.deviations:
            if deviation_key(pid, deviation.code, infusion.date) not in sent:
                earliest.offer(infusion.date, date.max)
    results = group_results(record.results)
    _occurrence_windows(record, infusions, results, sent, protocol=protocol, earliest=earliest)
    _milestone_windows(record, infusions, results, sent, protocol=protocol, earliest=earliest)
    return earliest.best


def _occurrence_windows(
    record: PatientRecord,
    infusions: Sequence[Infusion],
    results: dict[ResultItem, list[Result]],
    sent: frozenset[str],
    *,
    protocol: Protocol,
    earliest: _Earliest,
) -> None:
    """Each occurrence is owed as due on [O_k, D_k + grace], overdue until O_(k+1) - 1, missed from O_(k+1),
    cut at the day its result arrives and starting no earlier than the infusion that made it exist."""
    pid = record.profile.patient_id
    enrolled_on = record.profile.enrollment.enrolled_on
    t0 = infusions[0].date
    ends = [(add_months(i.date, protocol.monitoring_months), i.date) for i in infusions]
    grace = timedelta(days=protocol.grace_days)
    for spec in protocol.monitoring:
        if not applies_to(spec.who, record.profile):
            continue
        dates = item_dates(t0, ends[-1][0], spec, protocol)
        matched = match_results(dates, results.get(spec.item, ()))
        pointer = 0
        item = spec.item.value
        low = earliest.low
        past = True  # still inside the item's history prefix (missed before enrollment: never owed)
        for index, (due, opens, closes) in enumerate(dates):
            if earliest.beaten_by(opens):
                break
            if past:
                if occurrence_is_history(_Period(closes), enrolled_on):
                    continue
                past = False
            result = matched[index]
            if result is not None and result.date <= low:
                continue  # done before the first day that matters
            while ends[pointer][0] < due:
                pointer += 1
            exists = ends[pointer][1]
            stop = date.max if result is None else result.date - ONE_DAY
            late = due + grace
            if low <= late:
                _offer(earliest, sent, occurrence_key(pid, item, index + 1, "due"), max(opens, exists), min(late, stop))
            if low < closes:
                first = max(late + ONE_DAY, exists)
                _offer(
                    earliest, sent, occurrence_key(pid, item, index + 1, "overdue"), first, min(closes - ONE_DAY, stop)
                )
            _offer(earliest, sent, occurrence_key(pid, item, index + 1, "missed"), max(closes, exists), stop)


def _offer(earliest: _Earliest, sent: frozenset[str], key: str, first: date, last: date) -> None:
    if earliest.could_improve(first, last) and key not in sent:
        earliest.offer(first, last)


def _milestone_windows(
    record: PatientRecord,
    infusions: Sequence[Infusion],
    results: dict[ResultItem, list[Result]],
    sent: frozenset[str],
    *,
    protocol: Protocol,
    earliest: _Earliest,
) -> None:
    """Milestones depend on which infusions exist, so each stretch between two infusion dates is read
    with its own infusions; only stretches that reach past ``low`` are computed."""
    pid = record.profile.patient_id
    enrolled_on = record.profile.enrollment.enrolled_on
    cd4 = results.get(ResultItem.CD4, ())
    horizon = timedelta(days=protocol.milestone_catch_up_days)
    for index, infusion in enumerate(infusions):
        stretch_end = infusions[index + 1].date - ONE_DAY if index + 1 < len(infusions) else date.max
        if stretch_end < earliest.low or earliest.beaten_by(infusion.date):
            continue
        prefix = infusions[: index + 1]
        milestones = milestones_for(record.profile, prefix, cd4, date.max, protocol)
        for milestone in milestones:
            if milestone_is_history(milestone, enrolled_on):
                continue
            if milestone_key(pid, milestone.code, milestone.date) in sent:
                continue
            last = min(stretch_end, _add_days(milestone.date, horizon))
            for successor in _successors(milestone, milestones, protocol):
                last = min(last, successor.date - ONE_DAY)
            earliest.offer(max(milestone.date, infusion.date), last)


def _successors(milestone: Milestone, milestones: Sequence[Milestone], protocol: Protocol) -> list[Milestone]:
    out: list[Milestone] = []
    for chain in protocol.milestone_chains:
        if milestone.code in chain:
            later = chain[chain.index(milestone.code) + 1 :]
            out.extend(m for m in milestones if m.code in later and m.date >= milestone.date)
    return out


def _add_days(day: date, span: timedelta) -> date:
    return date.max if date.max - day <= span else day + span


__all__ = [
    "Notice",
    "deviation_key",
    "finding_key",
    "milestone_key",
    "next_check",
    "notices_due",
    "occurrence_key",
]
