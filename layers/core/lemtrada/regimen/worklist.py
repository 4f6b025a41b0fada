"""A patient's worklist items on a date (DESIGN 8): what needs a clinician's attention now, and when that changes.

Items: occurrences ``due`` (minor) or ``overdue`` (major); occurrences ``missed`` during the last 30 days
(critical); open findings (their severity); unacknowledged deviations of infusions of the last 30 days (their
severity); milestones reached in the last 30 days (info). Acknowledged items and history (lemtrada.regimen.history)
are never on it, nor is anything of a withdrawn patient.

``changes_on`` is the first day after the date on which the item set (or the patient's status) would differ
without any new write: an occurrence's window opening, due turning overdue, overdue turning missed, a missed
occurrence, a milestone or a deviation leaving the 30-day window, a milestone reached, a fact dated after the date
coming into existence, a withdrawal taking effect. The sweep visits the patient on that day so that a projection
stored on the date stays right until then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum
from typing import Any

from lemtrada.regimen.courses import infusions_until
from lemtrada.regimen.history import is_history, milestone_is_history, occurrence_is_history
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.records import PatientRecord, PatientStatus, ResultItem, Severity
from lemtrada.regimen.safety import open_findings
from lemtrada.regimen.schedule import OccurrenceStatus, build_schedule, group_results, milestones_for

RECENT_DAYS = 30
"""Missed occurrences, deviations and milestones stay on the worklist for the 30 days up to its date:
a thing dated ``x`` is on it for ``x <= day < x + 30``."""

ONE_DAY = timedelta(days=1)
_Day = date  # the type, where a field named ``date`` hides it


class Rank(IntEnum):
    """Worklist severities, most urgent first (the index sorts by this number)."""

    CRITICAL = 0
    MAJOR = 1
    MINOR = 2
    INFO = 3


SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "info")
"""Every worklist severity, most urgent first: ``SEVERITIES[rank]``."""


def rank_of(severity: str) -> int:
    """The rank of a worklist severity (ValueError for an unknown one)."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class WorklistItem:
    """One line of a patient's worklist. ``ref`` is what POST /patients/{id}/acknowledgements takes for this kind
    (a milestone's ``<code>:<date>`` only names it: milestones are not acknowledged)."""

    kind: str  # occurrence, finding, deviation, milestone
    code: str
    severity: str
    ref: str
    k: int | None = None
    state: str | None = None
    due_date: date | None = None
    date: date | None = None

    @property
    def sort_date(self) -> _Day:
        """The date the item is ordered by: an occurrence's due date, otherwise its own date."""
        day = self.due_date if self.kind == "occurrence" else self.date
        if day is None:  # pragma: no cover - every kind carries its date
            raise ValueError("a worklist item needs a date")
        return day

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "code": self.code, "severity": self.severity, "ref": self.ref}
        if self.k is not None:
            out["k"] = self.k
        if self.state is not None:
            out["state"] = self.state
        if self.due_date is not None:
            out["due_date"] = self.due_date.isoformat()
        if self.date is not None:
            out["date"] = self.date.isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorklistItem:
        due, day = data.get("due_date"), data.get("date")
        return cls(
            kind=str(data["kind"]),
            code=str(data["code"]),
            severity=str(data["severity"]),
            ref=str(data["ref"]),
            k=None if data.get("k") is None else int(data["k"]),
            state=data.get("state"),
            due_date=None if due is None else date.fromisoformat(due),
            date=None if day is None else date.fromisoformat(day),
        )


@dataclass(frozen=True, slots=True)
class PatientWorklist:
    """A patient's worklist on ``day``: items most urgent first, then oldest first."""

    day: date
    status: PatientStatus
    items: tuple[WorklistItem, ...]
    changes_on: date | None  # first day after ``day`` on which this would differ without a write; None: never

    @property
    def priority(self) -> str | None:
        """The most severe item's severity (None: nothing needs attention)."""
        best = min((rank_of(i.severity) for i in self.items), default=None)
        return None if best is None else SEVERITIES[best]

    @property
    def oldest(self) -> date | None:
        return min((i.sort_date for i in self.items), default=None)

    def counts(self) -> dict[str, int]:
        """Items per severity (every severity present, zeros included)."""
        out = dict.fromkeys(SEVERITIES, 0)
        for item in self.items:
            out[item.severity] += 1
        return out

    def same_content(self, other: PatientWorklist | None) -> bool:
        """Whether storing this instead of ``other`` would change what any reader sees (the date aside)."""
        return (
            other is not None
            and other.items == self.items
            and other.status == self.status
            and other.changes_on == self.changes_on
        )


_OCCURRENCE_SEVERITY = {
    OccurrenceStatus.DUE: "minor",
    OccurrenceStatus.OVERDUE: "major",
    OccurrenceStatus.MISSED: "critical",
}
_FACT_SEVERITY = {Severity.CRITICAL: "critical", Severity.MAJOR: "major", Severity.MINOR: "minor"}


def worklist_for(
    record: PatientRecord,
    acknowledged: Iterable[tuple[str, str]],
    day: date,
    protocol: Protocol,
) -> PatientWorklist:
    """The patient's worklist on ``day``. ``acknowledged`` is the stored acknowledgements as (kind, ref) pairs
    (findings' flags on the record say the same for findings)."""
    acks = frozenset(acknowledged)
    profile = record.profile
    enrolled_on = profile.enrollment.enrolled_on
    schedule = build_schedule(record, day, protocol)
    withdrawn = profile.withdrawn_on is not None and profile.withdrawn_on <= day
    candidates: list[date] = [
        *(i.date for i in record.infusions if i.date > day),
        *(r.date for r in record.results if r.date > day),
    ]
    if profile.withdrawn_on is not None and profile.withdrawn_on > day:
        candidates.append(profile.withdrawn_on)
    if withdrawn:
        return PatientWorklist(day, schedule.status, (), _first(candidates, day))
    grace = timedelta(days=protocol.grace_days)
    window = timedelta(days=RECENT_DAYS)
    items: list[WorklistItem] = []
    for occurrence in schedule.occurrences:
        if occurrence.status == OccurrenceStatus.DONE:
            continue
        ref = f"{occurrence.item.value}:{occurrence.k}"
        if ("occurrence", ref) in acks or occurrence_is_history(occurrence, enrolled_on):
            continue
        missed_until = occurrence.period_ends + window
        candidates += (occurrence.window_opens, occurrence.due_date + grace + ONE_DAY, occurrence.period_ends)
        candidates.append(missed_until)
        if occurrence.status == OccurrenceStatus.UPCOMING or day >= missed_until:
            continue
        items.append(
            WorklistItem(
                kind="occurrence",
                code=occurrence.item.value,
                severity=_OCCURRENCE_SEVERITY[occurrence.status],
                ref=ref,
                k=occurrence.k,
                state=occurrence.status.value,
                due_date=occurrence.due_date,
            )
        )
    for found in open_findings(record, day):
        if ("finding", found.finding_id) in acks or is_history(found.date, enrolled_on):
            continue
        items.append(
            WorklistItem(
                kind="finding",
                code=found.code,
                severity=_FACT_SEVERITY[found.severity],
                ref=found.finding_id,
                date=found.date,
            )
        )
    for infusion in infusions_until(record, day):
        if is_history(infusion.date, enrolled_on):
            continue
        for deviation in infusion.deviations:
            ref = f"{infusion.date.isoformat()}:{deviation.code}"
            if ("deviation", ref) in acks:
                continue
            candidates.append(infusion.date + window)
            if day < infusion.date + window:
                items.append(
                    WorklistItem(
                        kind="deviation",
                        code=deviation.code,
                        severity=_FACT_SEVERITY[deviation.severity],
                        ref=ref,
                        date=infusion.date,
                    )
                )
    infusions = infusions_until(record, day)
    cd4 = group_results([r for r in record.results if r.date <= day]).get(ResultItem.CD4, ())
    for milestone in milestones_for(profile, infusions, cd4, date.max, protocol):
        if milestone_is_history(milestone, enrolled_on):
            continue
        candidates += (milestone.date, milestone.date + window)
        if milestone.date <= day < milestone.date + window:
            items.append(
                WorklistItem(
                    kind="milestone",
                    code=milestone.code,
                    severity="info",
                    ref=f"{milestone.code}:{milestone.date.isoformat()}",
                    date=milestone.date,
                )
            )
    items.sort(key=lambda i: (rank_of(i.severity), i.sort_date, i.kind, i.code, i.ref))
    return PatientWorklist(day, schedule.status, tuple(items), _first(candidates, day))


def _first(candidates: Iterable[date], day: date) -> date | None:
    return min((c for c in candidates if c > day), default=None)


def rank_key(worklist: PatientWorklist, patient_id: str) -> str | None:
    """The index's sort key: ``<rank>#<oldest item date>#<patient_id>`` (None: the patient is off the index)."""
    priority, oldest = worklist.priority, worklist.oldest
    if priority is None or oldest is None:
        return None
    return f"{rank_of(priority)}#{oldest.isoformat()}#{patient_id}"


__all__ = [
    "RECENT_DAYS",
    "SEVERITIES",
    "PatientWorklist",
    "Rank",
    "WorklistItem",
    "rank_key",
    "rank_of",
    "worklist_for",
]
