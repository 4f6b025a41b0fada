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

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from lemtrada.regimen.dates import ONE_DAY
from lemtrada.regimen.history import is_history, milestone_is_history
from lemtrada.regimen.lazy import (
    milestones_since,
    occurrence_windows,
    owed_occurrences,
    results_with_findings,
    sorted_infusions,
)
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.records import Infusion, LabFinding, PatientRecord, Severity
from lemtrada.regimen.safety import finding_is_open
from lemtrada.regimen.schedule import Milestone

NoticeKind = Literal["occurrence", "milestone", "deviation", "finding"]


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


def _finding_owed(found: LabFinding, pid: str, enrolled_on: date, sent: frozenset[str]) -> bool:
    return finding_is_open(found, enrolled_on) and finding_key(pid, found.finding_id) not in sent


def _owed_findings(record: PatientRecord, on: date, sent: frozenset[str]) -> list[Notice]:
    """Unacknowledged findings of results dated on or before ``on`` not yet sent (acknowledged ones and history
    are not news). Owed with or without infusions: pre-treatment labs raise findings too."""
    with_findings = results_with_findings(record)
    if not with_findings:
        return []
    pid = record.profile.patient_id
    enrolled_on = record.profile.enrollment.enrolled_on
    out = []
    for result in sorted((r for r in with_findings if r.date <= on), key=lambda r: (r.date, r.result_id)):
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
    infusions = sorted_infusions(record, on)
    findings = _owed_findings(record, on, sent)
    if not infusions:
        return tuple(findings)
    pid = profile.patient_id
    enrolled_on = profile.enrollment.enrolled_on
    out = [
        Notice(key, pid, "occurrence", item, k, state, due)
        for due, item, k, state, key in owed_occurrences(record, infusions, on, sent, protocol, ended_by=enrolled_on)
    ]
    since = on - timedelta(days=protocol.milestone_catch_up_days)  # older reached milestones are not owed
    reached = [m for m in milestones_since(record, infusions, protocol, since) if m.date <= on]
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
        if not infusion.deviations or is_history(infusion.date, enrolled_on):
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
    infusions = sorted_infusions(record)
    low = date.min if after is None else after + ONE_DAY
    high = date.max if profile.withdrawn_on is None else profile.withdrawn_on - ONE_DAY
    if low > high:
        return None
    pid = profile.patient_id
    enrolled_on = profile.enrollment.enrolled_on
    earliest = _Earliest(low, high)
    for result in results_with_findings(record):
        for found in result.findings:
            if _finding_owed(found, pid, enrolled_on, sent):
                earliest.offer(found.date, date.max)
    if not infusions:
        return earliest.best
    for infusion in infusions:
        if not infusion.deviations or is_history(infusion.date, enrolled_on):
            continue
        for deviation in infusion.deviations:
            if deviation_key(pid, deviation.code, infusion.date) not in sent:
                earliest.offer(infusion.date, date.max)
    occurrence_windows(record, infusions, sent, protocol, earliest, ended_by=enrolled_on)
    _milestone_windows(record, infusions, sent, protocol=protocol, earliest=earliest)
    return earliest.best


def _milestone_windows(
    record: PatientRecord,
    infusions: Sequence[Infusion],
    sent: frozenset[str],
    *,
    protocol: Protocol,
    earliest: _Earliest,
) -> None:
    """Milestones depend on which infusions exist, so each stretch between two infusion dates is read
    with its own infusions; only stretches that reach past ``low`` are computed (``infusions``: the record's, in
    date order)."""
    pid = record.profile.patient_id
    enrolled_on = record.profile.enrollment.enrolled_on
    horizon = timedelta(days=protocol.milestone_catch_up_days)
    since = earliest.low - horizon if earliest.low - date.min > horizon else None  # older ones owe nothing now
    dates = [i.date for i in infusions]
    for index in range(max(0, bisect_right(dates, earliest.low) - 1), len(infusions)):  # the stretches reaching low
        infusion = infusions[index]
        stretch_end = dates[index + 1] - ONE_DAY if index + 1 < len(infusions) else date.max
        if stretch_end < earliest.low or earliest.beaten_by(infusion.date):
            continue
        prefix = infusions[: index + 1]
        milestones = milestones_since(record, prefix, protocol, since)
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
