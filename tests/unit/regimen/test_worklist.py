"""DESIGN 8 worklist rule: every kind of item at its boundaries, priority, oldest date and "changes on"."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lemtrada.regimen import US_PROTOCOL, add_result
from lemtrada.regimen.records import Deviation, PatientRecord, ResultItem, Severity
from lemtrada.regimen.worklist import PatientWorklist, WorklistItem, rank_key, worklist_for

from .helpers import D, analyte, enrollment, lab, result, treated, with_results

RECORD = treated("2024-01-15")  # T0 2024-01-15; enrolled 2023-11-01


def wl(record: PatientRecord, day: str | date, acks: tuple[tuple[str, str], ...] = ()) -> PatientWorklist:
    on = D(day) if isinstance(day, str) else day
    return worklist_for(record, acks, on, US_PROTOCOL)


def cbc1(worklist: PatientWorklist) -> WorklistItem | None:
    return next((i for i in worklist.items if i.ref == "cbc:1"), None)


@pytest.mark.parametrize(
    ("day", "state", "severity"),
    [
        ("2024-02-07", None, None),  # O_1 - 1: upcoming, not on the worklist
        ("2024-02-08", "due", "minor"),  # O_1 = D_1 - 7
        ("2024-02-22", "due", "minor"),  # D_1 + grace
        ("2024-02-23", "overdue", "major"),
        ("2024-03-07", "overdue", "major"),  # O_2 - 1
        ("2024-03-08", "missed", "critical"),  # O_2
        ("2024-04-06", "missed", "critical"),  # O_2 + 29: the 30th day missed
        ("2024-04-07", None, None),  # O_2 + 30: left the window
    ],
)
def test_an_occurrence_at_each_boundary(day: str, state: str | None, severity: str | None) -> None:
    item = cbc1(wl(RECORD, day))
    assert (item and item.state, item and item.severity) == (state, severity)
    if item is not None:
        assert item.to_json() == {
            "kind": "occurrence",
            "code": "cbc",
            "severity": severity,
            "ref": "cbc:1",
            "k": 1,
            "state": state,
            "due_date": "2024-02-15",
        }


def test_a_result_takes_the_occurrence_off_and_an_acknowledgement_too() -> None:
    done = with_results(RECORD, result(ResultItem.CBC, "2024-02-20"))
    assert cbc1(wl(done, "2024-02-20")) is None
    assert cbc1(wl(done, "2024-02-19")) is not None  # the result does not exist yet on the 19th
    assert cbc1(wl(RECORD, "2024-03-01", (("occurrence", "cbc:1"),))) is None


def test_findings_whatever_their_age_until_acknowledged() -> None:
    low = lab(ResultItem.CBC, "2024-03-01", analyte("platelets", 15.0), rid="r1")
    record, _ = add_result(RECORD, low, US_PROTOCOL)
    ref = "r1:platelets_below_100"
    assert ref not in {i.ref for i in wl(record, "2024-02-29").items}
    for day in ("2024-03-01", "2025-03-01"):
        found = next(i for i in wl(record, day).items if i.ref == ref)
        assert found.to_json() == {
            "kind": "finding",
            "code": "platelets_below_100",
            "severity": "critical",
            "ref": ref,
            "date": "2024-03-01",
        }
    assert ref not in {i.ref for i in wl(record, "2024-03-02", (("finding", ref),)).items}


def _deviating(record: PatientRecord, index: int = 1) -> PatientRecord:
    bad = replace(record.infusions[index], deviations=(Deviation("dose_not_12mg", Severity.MAJOR, "10 mg"),))
    infusions = (*record.infusions[:index], bad, *record.infusions[index + 1 :])
    return replace(record, infusions=infusions)


@pytest.mark.parametrize(
    ("day", "listed"),
    [("2024-01-15", False), ("2024-01-16", True), ("2024-02-14", True), ("2024-02-15", False)],
)
def test_a_deviation_for_30_days_from_its_infusion(day: str, listed: bool) -> None:
    record = _deviating(RECORD)  # infusion of 2024-01-16
    refs = {i.ref: i for i in wl(record, day).items}
    assert ("2024-01-16:dose_not_12mg" in refs) is listed
    if listed:
        assert refs["2024-01-16:dose_not_12mg"].severity == "major"
    assert "2024-01-16:dose_not_12mg" not in {
        i.ref for i in wl(record, day, (("deviation", "2024-01-16:dose_not_12mg"),)).items
    }


@pytest.mark.parametrize(
    ("day", "listed"),
    [("2024-05-18", False), ("2024-05-19", True), ("2024-06-17", True), ("2024-06-18", False)],
)
def test_a_milestone_for_30_days_from_its_date(day: str, listed: bool) -> None:
    refs = {i.ref for i in wl(RECORD, day).items if i.kind == "milestone"}
    assert ("contraception_window_ends:2024-05-19" in refs) is listed


def test_history_is_not_on_the_worklist() -> None:
    late = replace(RECORD, profile=replace(RECORD.profile, enrollment=enrollment(enrolled_on=D("2024-06-01"))))
    low = lab(ResultItem.CBC, "2024-03-01", analyte("platelets", 15.0), rid="r1")
    late, _ = add_result(late, low, US_PROTOCOL)
    late = _deviating(late)
    items = wl(late, "2024-06-01").items
    assert all(i.date is None or i.date >= D("2024-05-02") for i in items if i.kind != "occurrence")
    assert "r1:platelets_below_100" not in {i.ref for i in items}  # more than 30 days before enrollment
    assert "contraception_window_ends:2024-05-19" not in {i.ref for i in items}  # milestone before enrollment
    assert not [i for i in items if i.kind == "occurrence" and i.state == "missed"]  # periods ended before it
    # what is due or overdue on the enrollment date is current
    assert {i.state for i in items if i.kind == "occurrence"} <= {"due", "overdue"}
    assert [i for i in items if i.kind == "occurrence"]


def test_withdrawn_patients_have_nothing() -> None:
    withdrawn = replace(RECORD, profile=replace(RECORD.profile, withdrawn_on=D("2024-03-01")))
    assert wl(withdrawn, "2024-02-29").items
    assert wl(withdrawn, "2024-02-29").changes_on is not None
    gone = wl(withdrawn, "2024-03-01")
    assert gone.items == ()
    assert gone.status.value == "withdrawn"
    assert gone.priority is None


def test_priority_oldest_rank_and_order() -> None:
    worklist = wl(RECORD, "2024-03-08")
    assert worklist.priority == "critical"
    assert worklist.oldest == D("2024-02-15")
    assert rank_key(worklist, "p1") == "0#2024-02-15#p1"
    ranks = [("critical", "major", "minor", "info").index(i.severity) for i in worklist.items]
    assert ranks == sorted(ranks)
    assert worklist.counts()["critical"] == 4  # the four monthly items, missed
    assert rank_key(wl(RECORD, "2024-02-07"), "p1") is None
    assert wl(RECORD, "2024-02-08").priority == "minor"


@pytest.mark.parametrize(
    ("day", "changes_on"),
    [
        ("2024-02-07", "2024-02-08"),  # the monthly windows open
        ("2024-02-08", "2024-02-23"),  # due until D_1 + grace
        ("2024-02-22", "2024-02-23"),  # due -> overdue
        ("2024-03-07", "2024-03-08"),  # overdue -> missed
        ("2024-04-06", "2024-04-07"),  # the missed ones leave the 30-day window
    ],
)
def test_changes_on_the_next_transition(day: str, changes_on: str) -> None:
    worklist = wl(RECORD, day)
    assert worklist.changes_on is not None
    assert worklist.changes_on > D(day)
    # nothing differs before it, and something differs on it
    for offset in range(1, (worklist.changes_on - D(day)).days):
        assert wl(RECORD, D(day) + timedelta(days=offset)).items == worklist.items
    assert worklist.changes_on == D(changes_on)
    assert wl(RECORD, worklist.changes_on).items != worklist.items


def test_a_future_dated_fact_is_a_change() -> None:
    record = with_results(RECORD, result(ResultItem.CBC, "2024-02-20"))
    assert wl(record, "2024-02-19").changes_on == D("2024-02-20")


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def histories(draw: st.DrawFn) -> tuple[PatientRecord, date, tuple[tuple[str, str], ...]]:
    start = D("2024-01-15")
    record = treated("2024-01-15", courses=("2025-02-03",)) if draw(st.booleans()) else RECORD
    days = draw(st.lists(st.integers(min_value=0, max_value=1500), max_size=12))
    items = (ResultItem.CBC, ResultItem.CREATININE, ResultItem.THYROID, ResultItem.SKIN_EXAM, ResultItem.CD4)
    extra = [result(draw(st.sampled_from(items)), start + timedelta(days=d), rid=f"r{n}") for n, d in enumerate(days)]
    record = with_results(record, *extra)
    if draw(st.booleans()):
        record = _deviating(record, draw(st.integers(min_value=0, max_value=len(record.infusions) - 1)))
    if draw(st.booleans()):
        low = lab(ResultItem.CBC, start + timedelta(days=draw(st.integers(0, 900))), analyte("platelets", 15.0))
        record, _ = add_result(record, replace(low, result_id="low"), US_PROTOCOL)
    enrolled = start + timedelta(days=draw(st.integers(min_value=-400, max_value=700)))
    record = replace(record, profile=replace(record.profile, enrollment=enrollment(enrolled_on=enrolled)))
    if draw(st.booleans()):
        withdrawn = start + timedelta(days=draw(st.integers(0, 1800)))
        record = replace(record, profile=replace(record.profile, withdrawn_on=withdrawn))
    acks = tuple(
        draw(st.lists(st.sampled_from([("occurrence", "cbc:3"), ("occurrence", "thyroid:1")]), max_size=2, unique=True))
    )
    day = start + timedelta(days=draw(st.integers(min_value=-30, max_value=1900)))
    return record, day, acks


@SETTINGS
@given(histories(), st.data())
def test_a_projection_holds_until_its_changes_on_date(
    case: tuple[PatientRecord, date, tuple[tuple[str, str], ...]], data: st.DataObject
) -> None:
    """Computed on D, the worklist equals a fresh computation on every day before ``changes_on``."""
    record, day, acks = case
    stored = wl(record, day, acks)
    horizon = 400 if stored.changes_on is None else (stored.changes_on - day).days - 1
    if horizon <= 0:
        return
    later = day + timedelta(days=data.draw(st.integers(min_value=1, max_value=horizon)))
    fresh = wl(record, later, acks)
    assert fresh.items == stored.items
    assert fresh.status == stored.status
    assert fresh.changes_on == stored.changes_on
