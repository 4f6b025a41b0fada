"""The round-1 engine's full computation, kept as the oracle of the lazy one (``regimen.lazy``).

``notices_due`` and ``next_check`` as they were before the engine became lazy: every occurrence of every item
is walked from k = 1, every result grouped and matched. The parts the lazy engine did not change (findings,
deviations, ``_Earliest``) are the engine's own, imported; the occurrence walks and the milestone windows
(``milestones_for`` for each stretch, the engine now reads a per-record memo) are copied.
A rule that changes which occurrences are owed must be applied here as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from lemtrada.regimen.courses import infusions_until
from lemtrada.regimen.dates import ONE_DAY, add_months
from lemtrada.regimen.history import is_history, milestone_is_history
from lemtrada.regimen.notices import (
    Notice,
    _add_days,
    _Earliest,
    _owed_findings,
    _successors,
    _superseded,
    deviation_key,
    finding_key,
    milestone_key,
    occurrence_key,
)
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.readiness import applies_to
from lemtrada.regimen.records import Infusion, PatientRecord, Result, ResultItem, Severity
from lemtrada.regimen.schedule import (
    OccurrenceStatus,
    group_results,
    item_dates,
    match_results,
    milestones_for,
    occurrence_status,
)

_OWED_STATES = (OccurrenceStatus.DUE, OccurrenceStatus.OVERDUE, OccurrenceStatus.MISSED)


def full_notices_due(record: PatientRecord, on: date, sent: frozenset[str], protocol: Protocol) -> tuple[Notice, ...]:
    """Notices owed on ``on``: occurrences in date order, then milestones, then deviations, then findings."""
    profile = record.profile
    if profile.withdrawn_on is not None and profile.withdrawn_on <= on:
        return ()
    infusions = infusions_until(record, on)
    findings = _owed_findings(record, on, sent)
    if not infusions:
        return tuple(findings)
    pid = profile.patient_id
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
        for k, ((due, opens, closes), result) in enumerate(
            zip(dates, match_results(dates, results.get(spec.item, ())), strict=True), start=1
        ):
            if opens > on:
                break
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
        if milestone.date < horizon or _superseded(milestone, reached, protocol):
            continue
        key = milestone_key(pid, milestone.code, milestone.date)
        if key not in sent:
            out.append(Notice(key, pid, "milestone", milestone.code, date=milestone.date))
    for infusion in infusions:
        for deviation in infusion.deviations:
            key = deviation_key(pid, deviation.code, infusion.date)
            if key not in sent:
                alerted = deviation.severity == Severity.CRITICAL and not is_history(
                    infusion.date, profile.enrollment.enrolled_on
                )
                out.append(
                    Notice(
                        key,
                        pid,
                        "deviation",
                        deviation.code,
                        date=infusion.date,
                        severity=deviation.severity,
                        alerted=alerted,
                    )
                )
    return (*out, *findings)


def full_next_check(
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
    earliest = _Earliest(low, high)
    for result in record.results:
        for found in result.findings:
            if not found.acknowledged and finding_key(pid, found.finding_id) not in sent:
                earliest.offer(found.date, date.max)
    if not infusions:
        return earliest.best
    for infusion in infusions:
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
    ended_by: date | None = None,
) -> None:
    """Each occurrence is owed as due on [O_k, D_k + grace], overdue until O_(k+1) - 1, missed from O_(k+1),
    cut at the day its result arrives and starting no earlier than the infusion that made it exist."""
    pid = record.profile.patient_id
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
        for index, (due, opens, closes) in enumerate(dates):
            if earliest.beaten_by(opens):
                break
            if ended_by is not None and closes <= ended_by:
                continue  # ``ended_by``: periods over by then are never owed
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
    since = earliest.low - horizon if earliest.low - date.min > horizon else None  # older ones owe nothing now
    for index, infusion in enumerate(infusions):
        stretch_end = infusions[index + 1].date - ONE_DAY if index + 1 < len(infusions) else date.max
        if stretch_end < earliest.low or earliest.beaten_by(infusion.date):
            continue
        prefix = infusions[: index + 1]
        milestones = milestones_for(record.profile, prefix, cd4, date.max, protocol, since=since)
        for milestone in milestones:
            if milestone_is_history(milestone, enrolled_on):
                continue
            if milestone_key(pid, milestone.code, milestone.date) in sent:
                continue
            last = min(stretch_end, _add_days(milestone.date, horizon))
            for successor in _successors(milestone, milestones, protocol):
                last = min(last, successor.date - ONE_DAY)
            earliest.offer(max(milestone.date, infusion.date), last)
