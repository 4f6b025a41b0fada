"""What the patient's phone is told on one local date (DESIGN 9): the patient audience of the notices.

No second rule set: an occurrence's state comes from the lazy engine the sweep asks (``owed_occurrences``, with
history's cut as ``ended_by``), the end of monitoring from the schedule's milestones, and the protocol's
``reminders`` say which of those the patient hears of and with which lock-screen text. Everything owed on a date
becomes **one** push; its ``keys`` are marked when the push is queued, so a key is never owed again.

Keys: an occurrence's reminder uses the notice's key shape (``<pid>#occurrence#<item>#<k>#<state>``, stored
among the reminder marks, never the clinic's), a warning ``<pid>#reminder#infusion_warning#<E_n>``, the end of
monitoring the milestone's key.

Never for a withdrawn patient, after monitoring ended (``completed``, except the ``monitoring_complete`` push
itself), for history (``regimen.history``), or with reminders disabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from lemtrada.regimen.courses import infusions_until
from lemtrada.regimen.dates import ONE_DAY, add_months
from lemtrada.regimen.history import milestone_is_history
from lemtrada.regimen.lazy import cd4_until, owed_occurrences
from lemtrada.regimen.protocol import Protocol, ReminderRule
from lemtrada.regimen.records import Infusion, PatientRecord
from lemtrada.regimen.schedule import milestones_for

_OCCURRENCE_KINDS = ("due", "overdue")
WARNING = "infusion_warning"
COMPLETE = "monitoring_complete"


@dataclass(frozen=True, slots=True)
class Reminder:
    """One thing the patient is owed: its kind, the date its text names, the item codes, its mark."""

    kind: str
    date: date
    key: str
    item: str | None = None


@dataclass(frozen=True, slots=True)
class Push:
    """The one push of a patient and local date. ``title``/``body`` are the lock screen (no test, no condition);
    ``data`` is for the app; ``keys`` are the marks that make every reminder in it sent."""

    patient_id: str
    on: date
    title: str
    body: str
    kind: str
    date: date
    items: tuple[str, ...]
    kinds: tuple[str, ...]
    keys: tuple[str, ...] = field(repr=False)

    @property
    def data(self) -> dict[str, Any]:
        return {"kind": self.kind, "date": self.date.isoformat(), "items": list(self.items), "kinds": list(self.kinds)}


def warning_key(patient_id: str, last_infusion: date) -> str:
    return f"{patient_id}#reminder#{WARNING}#{last_infusion.isoformat()}"


def reminders_due(
    record: PatientRecord, on: date, sent: frozenset[str], protocol: Protocol, *, enabled: bool = True
) -> tuple[Reminder, ...]:
    """Reminders owed on ``on`` (local date) whose key is not in ``sent``, in the protocol's order of kinds."""
    profile = record.profile
    if not enabled or (profile.withdrawn_on is not None and profile.withdrawn_on <= on):
        return ()
    infusions = infusions_until(record, on)
    if not infusions:
        return ()
    rules = {rule.kind: rule for rule in protocol.reminders}
    pid = profile.patient_id
    enrolled_on = profile.enrollment.enrolled_on
    monitoring_ends = add_months(infusions[-1].date, protocol.monitoring_months)
    found: dict[str, list[Reminder]] = {kind: [] for kind in rules}
    if on <= monitoring_ends:
        states = [s for s in _OCCURRENCE_KINDS if s in rules]
        for due, item, _k, state, key in owed_occurrences(record, infusions, on, sent, protocol, ended_by=enrolled_on):
            if state in states:
                found[state].append(Reminder(state, due, key, item))
        if WARNING in rules:
            found[WARNING].extend(_warnings(infusions, on, sent, protocol, rules[WARNING], pid, enrolled_on))
    elif COMPLETE in rules:
        found[COMPLETE].extend(_complete(record, infusions, on, sent, protocol, rules[COMPLETE]))
    return tuple(reminder for rule in protocol.reminders for reminder in found[rule.kind])


def _warnings(  # noqa: PLR0917 - one call site
    infusions: tuple[Infusion, ...],
    on: date,
    sent: frozenset[str],
    protocol: Protocol,
    rule: ReminderRule,
    pid: str,
    enrolled_on: date,
) -> list[Reminder]:
    """The day after the infusion that completes a course, and ``catch_up_days`` after it."""
    out = []
    for infusion in infusions:
        if infusion.day != protocol.infusions_required(infusion.course):
            continue
        first = infusion.date + ONE_DAY
        if not first <= on <= first + timedelta(days=rule.catch_up_days) or milestone_is_history(
            _Dated(first), enrolled_on
        ):
            continue
        key = warning_key(pid, infusion.date)
        if key not in sent:
            out.append(Reminder(WARNING, infusion.date, key))
    return out


def _complete(  # noqa: PLR0917 - one call site
    record: PatientRecord,
    infusions: tuple[Infusion, ...],
    on: date,
    sent: frozenset[str],
    protocol: Protocol,
    rule: ReminderRule,
) -> list[Reminder]:
    """The schedule's ``monitoring_complete`` milestone, from its date for ``catch_up_days``."""
    since = on - timedelta(days=rule.catch_up_days)
    for milestone in milestones_for(record.profile, infusions, cd4_until(record, on), on, protocol, since=since):
        if milestone.code != COMPLETE or not milestone.reached or milestone.date < since:
            continue
        if milestone_is_history(milestone, record.profile.enrollment.enrolled_on):
            continue
        key = f"{record.profile.patient_id}#milestone#{COMPLETE}#{milestone.date.isoformat()}"
        if key not in sent:
            return [Reminder(COMPLETE, milestone.date, key)]
    return []


@dataclass(frozen=True, slots=True)
class _Dated:
    date: date


def push_for(
    record: PatientRecord, on: date, sent: frozenset[str], protocol: Protocol, *, enabled: bool = True
) -> Push | None:
    """The one push owed on ``on``, or None. Its text is the first owed kind's (protocol order), naming that
    kind's earliest date; ``data`` lists every kind and item code it covers."""
    owed = reminders_due(record, on, sent, protocol, enabled=enabled)
    if not owed:
        return None
    lead = owed[0].kind
    rule = next(r for r in protocol.reminders if r.kind == lead)
    day = min(r.date for r in owed if r.kind == lead)
    kinds = tuple(dict.fromkeys(r.kind for r in owed))
    items = tuple(sorted({r.item for r in owed if r.item is not None}))
    return Push(
        patient_id=record.profile.patient_id,
        on=on,
        title=protocol.reminder_title,
        body=rule.text.format(date=day.isoformat()),
        kind=lead,
        date=day,
        items=items,
        kinds=kinds,
        keys=tuple(r.key for r in owed),
    )


__all__ = ["COMPLETE", "WARNING", "Push", "Reminder", "push_for", "reminders_due", "warning_key"]
