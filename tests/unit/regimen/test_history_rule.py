"""DESIGN 8 "History is not news" in the engine: notices, next_check, open findings and readiness at every boundary,
and a property: for any record, enrollment date and day, no notice is ever owed for a history fact."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lemtrada.regimen import (
    US_PROTOCOL,
    add_result,
    assess_readiness,
    build_schedule,
    history_findings,
    next_check,
    notices_due,
    open_critical_findings,
    open_findings,
)
from lemtrada.regimen.history import is_history
from lemtrada.regimen.records import Deviation, LabFinding, PatientRecord, ResultItem, Severity

from bench.synthetic import synthetic_record

from .helpers import D, analyte, lab, treated

ONE = timedelta(days=1)


def enrolled(record: PatientRecord, on: date) -> PatientRecord:
    """The same facts, the patient enrolled on ``on`` (what decides what is history)."""
    enrollment = replace(record.profile.enrollment, enrolled_on=on)
    return replace(record, profile=replace(record.profile, enrollment=enrollment))


def owed_keys(record: PatientRecord, on: date, sent: frozenset[str] = frozenset()) -> set[str]:
    return {n.key for n in notices_due(record, on, sent, US_PROTOCOL)}


# ---- findings: 31 days before enrollment is history, 30 is current -------------------------------------------
FINDING_DAY = D("2024-03-01")
LOW = lab(ResultItem.CBC, FINDING_DAY, analyte("platelets", 15.0), rid="r1")
FINDING = "p1#finding#r1:platelets_below_100"


def _with_finding() -> PatientRecord:
    record, _ = add_result(treated("2024-01-15"), LOW, US_PROTOCOL)
    return record


@pytest.mark.parametrize(
    ("days_before", "history"),
    [(31, True), (30, False), (1, False), (0, False), (-5, False)],
)
def test_a_finding_is_history_only_more_than_30_days_before_enrollment(days_before: int, history: bool) -> None:
    enrolled_on = FINDING_DAY + timedelta(days=days_before)
    record = enrolled(_with_finding(), enrolled_on)
    day = max(enrolled_on, FINDING_DAY)
    owed = {n.key: n for n in notices_due(record, day, frozenset(), US_PROTOCOL)}
    assert (FINDING in owed) is not history
    if not history:
        assert owed[FINDING].alerted  # current and critical: alerted when stored
    codes = {f.finding_id for f in open_findings(record, day)}
    assert ("r1:platelets_below_100" in codes) is not history
    assert bool(open_critical_findings(record, day)) is not history
    blockers = {b.code for b in assess_readiness(record, day + timedelta(days=400), US_PROTOCOL).blockers}
    assert ("open_critical_finding" in blockers) is not history
    assert [f.finding_id for f in history_findings(record)] == (["r1:platelets_below_100"] if history else [])


def test_a_history_finding_never_makes_the_patient_due() -> None:
    """next_check agrees: a history finding opens no window on any day (the monthly schedule still does)."""
    record = enrolled(_with_finding(), FINDING_DAY + timedelta(days=31))
    current = enrolled(_with_finding(), FINDING_DAY + timedelta(days=30))
    everything_else = frozenset(n.key for n in notices_due(current, D("2024-04-01"), frozenset(), US_PROTOCOL))
    quiet = everything_else - {FINDING}
    after = FINDING_DAY - ONE
    # Only the finding was left unsent: owed (current) or nothing until the next occurrence opens (history).
    assert next_check(current, quiet, US_PROTOCOL, after=after) == FINDING_DAY
    history_next = next_check(record, quiet, US_PROTOCOL, after=after)
    assert history_next is None or history_next > FINDING_DAY
    assert FINDING not in owed_keys(record, D("2024-04-01"), quiet)


# ---- deviations: the infusion's date decides --------------------------------------------------------------------
def _with_critical_deviation() -> PatientRecord:
    record = treated("2024-01-15")
    first = record.infusions[0]
    flagged = replace(first, deviations=(Deviation("infused_with_active_infection", Severity.CRITICAL, "flag"),))
    return replace(record, infusions=(flagged, *record.infusions[1:]))


DEVIATION = "p1#deviation#infused_with_active_infection#2024-01-15"


@pytest.mark.parametrize(("days_before", "history"), [(31, True), (30, False), (0, False)])
def test_a_deviation_is_history_only_more_than_30_days_before_enrollment(days_before: int, history: bool) -> None:
    enrolled_on = D("2024-01-15") + timedelta(days=days_before)
    record = enrolled(_with_critical_deviation(), enrolled_on)
    owed = {n.key: n for n in notices_due(record, enrolled_on, frozenset(), US_PROTOCOL)}
    assert (DEVIATION in owed) is not history
    if not history:
        assert owed[DEVIATION].alerted
    sent = frozenset(owed) - {DEVIATION}
    upcoming = next_check(record, sent, US_PROTOCOL, after=enrolled_on - ONE)
    assert (upcoming == enrolled_on) is not history


# ---- occurrences: a period that ended before enrollment is history ----------------------------------------------
# cbc k=1 of a course from 2024-01-15: due 2024-02-15, window opens 2024-02-08, period ends 2024-03-08 (exclusive).
CBC_1 = "p1#occurrence#cbc#1#"


@pytest.mark.parametrize(
    ("enrolled_on", "owed_state"),
    [
        ("2024-03-08", None),  # the period's last day (03-07) was the day before enrollment: missed before it
        ("2024-03-09", None),
        ("2024-03-07", "overdue"),  # the enrollment date is the period's last day: overdue, notified
        ("2024-02-20", "due"),  # due on the enrollment date (within grace): notified as usual
    ],
)
def test_an_occurrence_missed_before_enrollment_is_never_owed(enrolled_on: str, owed_state: str | None) -> None:
    record = enrolled(treated("2024-01-15"), D(enrolled_on))
    on_enrollment = {k for k in owed_keys(record, D(enrolled_on)) if k.startswith(CBC_1)}
    assert on_enrollment == (set() if owed_state is None else {CBC_1 + owed_state})
    later = {k for k in owed_keys(record, D("2024-06-01")) if k.startswith(CBC_1)}
    assert later == (set() if owed_state is None else {CBC_1 + "missed"})  # it still escalates when current
    occurrence = next(o for o in build_schedule(record, D("2024-06-01"), US_PROTOCOL).occurrences if o.k == 1)
    assert occurrence.status.value == "missed"  # stored and shown: the schedule keeps it


# ---- milestones: dated before enrollment is history ------------------------------------------------------------
# contraception_window_ends: last infusion of course 1 (2024-01-19) + 4 months = 2024-05-19.
CONTRACEPTION = "p1#milestone#contraception_window_ends#2024-05-19"


@pytest.mark.parametrize(("enrolled_on", "owed"), [("2024-05-20", False), ("2024-05-19", True), ("2024-05-01", True)])
def test_a_milestone_dated_before_enrollment_is_never_owed(enrolled_on: str, owed: bool) -> None:
    record = enrolled(treated("2024-01-15"), D(enrolled_on))
    day = max(D(enrolled_on), D("2024-05-19"))
    assert (CONTRACEPTION in owed_keys(record, day)) is owed
    sent = frozenset(owed_keys(record, day)) - {CONTRACEPTION}
    assert (next_check(record, sent, US_PROTOCOL, after=day - ONE) == day) is owed


# ---- the property -----------------------------------------------------------------------------------------------
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _record(seed: int, today: date, enrollment_shift: int) -> PatientRecord:
    """A synthetic history with some critical findings and deviations, the patient enrolled somewhere inside it."""
    rng = random.Random(seed)
    record = synthetic_record(rng, "p", today)
    results = []
    for one in record.results:
        if rng.random() < 0.15:
            severity = rng.choice(tuple(Severity))
            found = LabFinding(f"{one.result_id}:x", one.result_id, one.date, "x", severity, "d", "s")
            one = replace(one, findings=(found,))  # noqa: PLW2901 - the result, with a finding
        results.append(one)
    infusions = tuple(
        replace(i, deviations=(*i.deviations, Deviation("co_infusion", Severity.CRITICAL, "d")))
        if rng.random() < 0.3
        else i
        for i in record.infusions
    )
    first = min([r.date for r in results] + [i.date for i in infusions], default=today)
    record = replace(record, results=tuple(results), infusions=infusions)
    return enrolled(record, min(first + timedelta(days=enrollment_shift), today))


def _history_notices(record: PatientRecord, on: date, sent: frozenset[str]) -> list[str]:
    enrolled_on = record.profile.enrollment.enrolled_on
    periods = {(o.item.value, o.k): o.period_ends for o in build_schedule(record, on, US_PROTOCOL).occurrences}
    bad = []
    for notice in notices_due(record, on, sent, US_PROTOCOL):
        if notice.kind == "occurrence":
            assert notice.k is not None
            if periods[(notice.code, notice.k)] <= enrolled_on:
                bad.append(notice.key)
        elif notice.kind == "milestone":
            assert notice.date is not None
            if notice.date < enrolled_on:
                bad.append(notice.key)
        else:
            assert notice.date is not None
            if is_history(notice.date, enrolled_on):
                bad.append(notice.key)
    return bad


@SETTINGS
@given(
    st.integers(min_value=0, max_value=2**32),
    st.dates(min_value=date(2022, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(min_value=0, max_value=2000),
    st.integers(min_value=-400, max_value=2500),
)
def test_no_notice_is_ever_owed_for_a_history_fact(seed: int, today: date, shift: int, offset: int) -> None:
    record = _record(seed, today, shift)
    on = record.profile.enrollment.enrolled_on + timedelta(days=offset)
    assert _history_notices(record, on, frozenset()) == []
    # With whatever was sent already: still none, and next_check names the first day something is owed.
    sent = frozenset(n.key for n in notices_due(record, on, frozenset(), US_PROTOCOL))
    upcoming = next_check(record, sent, US_PROTOCOL, after=on)
    if upcoming is not None:
        assert notices_due(record, upcoming, sent, US_PROTOCOL)
        assert _history_notices(record, upcoming, sent) == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=2**32),
    st.dates(min_value=date(2022, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(min_value=0, max_value=2000),
)
def test_daily_sweeps_from_enrollment_send_no_history_and_next_check_stays_exact(
    seed: int, today: date, shift: int
) -> None:
    """A sweep every day from enrollment on: no history notice, and next_check(after=d-1) is d exactly when d owes."""
    record = _record(seed, today, shift)
    first = record.profile.enrollment.enrolled_on
    sent: frozenset[str] = frozenset()
    predicted = next_check(record, sent, US_PROTOCOL, after=first - ONE)
    for offset in range(40):
        day = first + timedelta(days=offset)
        owed = notices_due(record, day, sent, US_PROTOCOL)
        assert _history_notices(record, day, sent) == []
        if owed:
            assert predicted == day
        else:
            assert predicted is None or predicted > day
        sent |= frozenset(n.key for n in owed)
        predicted = next_check(record, sent, US_PROTOCOL, after=day)
