"""Enrolling with history (DESIGN 8): a patient already years into monitoring arrives with infusions and results.

Everything is validated before anything is stored: each bad entry is named (``history.infusions[3].date``,
``history.results[12].analytes[0].value``) and the enrollment answers 422 with all of them. The facts are then
replayed in date order (results before infusions on the same date: labs are drawn before the infusion), each
judged by the same rules as the infusion and result routes against the facts dated before it, so deviations
and findings are what they would have been had each been recorded on its day. During the replay nothing is
history yet (nobody had acknowledged anything then); once it is done the real enrollment date decides:

- findings that are history (dated more than 30 days before enrollment) are stored acknowledged with action
  ``history`` (one REVIEWS attribute each), so the profile shows them settled and the acknowledgement route
  answers with that acknowledgement;
- critical findings and deviations that are current owe their alert, stored in the same write as the facts
  (the recording routes' rule, ``regimen.alerts``), so they are alerted once and history never is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

from lemtrada.regimen import (
    InfusionOnSameDate,
    InfusionRejected,
    Protocol,
    add_result,
    history_findings,
    plan_infusion,
)
from lemtrada.regimen.alerts import Alert, deviation_alerts, finding_alerts
from lemtrada.regimen.records import InfusionRequest, PatientProfile, PatientRecord, Result
from lemtrada.regimen.safety import all_findings
from lemtrada.services.errors import ValidationFailed, Violation
from lemtrada.services.recording import ResultInput, _check_analytes, _checked_status
from lemtrada.storage.ports import Acknowledgement, with_acknowledgements

HISTORY_ACTION = "history"
"""The action a history finding is stored acknowledged with (DESIGN 8)."""
HISTORY_ACTOR = "system:history"
"""Who the ``history`` acknowledgements name: the rule, not a clinician (the audit entry names who enrolled)."""

_INFUSION_FIELDS = {
    "date_in_future": "date",
    "dose_out_of_range": "dose_mg",
    "naive_datetime": "started_at",
    "ended_not_after_started": "ended_at",
    "started_before_diluted": "started_at",
    "observation_out_of_range": "observation_minutes",
    "premedication_out_of_range": "methylprednisolone_mg",
    "invalid_course": "course",
}
"""Which field of an infusion entry each of the infusion rules' rejection codes is about."""


@dataclass(frozen=True, slots=True)
class HistoryInput:
    """The ``history`` of an enrollment: bodies of the infusion and result routes, in any order."""

    infusions: tuple[InfusionRequest, ...] = ()
    results: tuple[ResultInput, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.infusions or self.results)


@dataclass(frozen=True, slots=True)
class Onboarded:
    """The record to store (findings and deviations computed), its ``history`` acknowledgements and owed alerts."""

    record: PatientRecord
    acknowledgements: tuple[Acknowledgement, ...]
    alerts: tuple[Alert, ...]


def onboard(
    profile: PatientProfile,
    history: HistoryInput,
    *,
    today: date,
    protocol: Protocol,
    new_result_id: Callable[[], str],
    at: datetime,
) -> Onboarded:
    """Validate the whole history, replay it in date order, then settle what is history. Raises ValidationFailed
    naming every bad entry (nothing is stored)."""
    violations: list[Violation] = []
    results: list[tuple[int, Result]] = []
    for index, entry in enumerate(history.results):
        checked = _result(
            index, entry, today=today, protocol=protocol, new_result_id=new_result_id, violations=violations
        )
        if checked is not None:
            results.append((index, checked))
    dates = [entry.date for entry in history.results] + [entry.date for entry in history.infusions]
    # While replaying, nothing is history: readiness at an old infusion reads the findings open then.
    first = min([*dates, today])
    then = replace(profile, enrollment=replace(profile.enrollment, enrolled_on=first))
    record = PatientRecord(profile=then)
    events = sorted(
        [(r.date, 0, index) for index, r in results] + [(i.date, 1, index) for index, i in enumerate(history.infusions)]
    )
    by_index = dict(results)
    seen: dict[date, int] = {}
    for _, kind, index in events:
        if kind == 0:
            record, _ = add_result(record, by_index[index], protocol)
            continue
        request = history.infusions[index]
        if request.date in seen:
            violations.append(
                Violation(
                    "duplicate_infusion",
                    f"history.infusions[{seen[request.date]}] is on {request.date.isoformat()} too",
                    field=f"history.infusions[{index}].date",
                )
            )
            continue
        try:
            infusion = plan_infusion(record, request, today, protocol)
        except InfusionRejected as rejected:
            violations.extend(
                Violation(e.code, e.detail, field=_infusion_field(index, e.code), source=e.source)
                for e in rejected.errors
            )
            continue
        except InfusionOnSameDate:  # pragma: no cover - dates are checked above
            continue
        seen[request.date] = index
        record = replace(record, infusions=tuple(sorted((*record.infusions, infusion), key=lambda i: i.date)))
    if violations:
        violations.sort(key=_entry_order)
        raise ValidationFailed(
            f"{len(violations)} history entr{'y' if len(violations) == 1 else 'ies'} cannot be stored as sent",
            code=violations[0].code,
            violations=violations,
        )
    record = replace(record, profile=profile)
    acks = tuple(
        Acknowledgement(kind="finding", ref=f.finding_id, action=HISTORY_ACTION, by=HISTORY_ACTOR, at=at)
        for f in history_findings(record)
    )
    record = with_acknowledgements(record, acks)
    enrolled_on = profile.enrollment.enrolled_on
    alerts = finding_alerts(profile.clinic_id, profile.patient_id, enrolled_on, all_findings(record))
    for infusion in record.infusions:
        alerts += deviation_alerts(profile.clinic_id, profile.patient_id, enrolled_on, infusion)
    return Onboarded(record=record, acknowledgements=tuple(sorted(acks, key=lambda a: a.ref)), alerts=alerts)


def _result(
    index: int,
    entry: ResultInput,
    *,
    today: date,
    protocol: Protocol,
    new_result_id: Callable[[], str],
    violations: list[Violation],
) -> Result | None:
    """The result an entry stores, or None with its violations added (fields prefixed by the entry)."""
    prefix = f"history.results[{index}]"
    found: list[Violation] = []
    status: str | None = None
    try:
        status = _checked_status(entry)
    except ValidationFailed as error:
        found += error.violations
    try:
        _check_analytes(entry, protocol)
    except ValidationFailed as error:
        found += error.violations
    if entry.date > today:
        found.append(Violation("date_in_future", f"after {today.isoformat()}", field="date"))
    if found:
        violations.extend(replace(v, field=f"{prefix}.{v.field}" if v.field else prefix) for v in found)
        return None
    return Result(
        result_id=new_result_id(),
        item=entry.item,
        date=entry.date,
        value=entry.value,
        unit=entry.unit,
        status=status,
        analytes=entry.analytes,
    )


def _infusion_field(index: int, code: str) -> str:
    field = _INFUSION_FIELDS.get(code)
    return f"history.infusions[{index}]" + (f".{field}" if field else "")


def _entry_order(violation: Violation) -> tuple[int, int, str]:
    """Infusions before results, each by its index (``[12]`` after ``[3]``, not as text)."""
    field = violation.field or ""
    kind = 0 if field.startswith("history.infusions") else 1
    number = field.partition("[")[2].partition("]")[0]
    return (kind, int(number) if number.isdigit() else 0, field)
