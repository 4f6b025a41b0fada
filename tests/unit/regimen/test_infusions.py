from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from lemtrada.regimen import (
    EU_PROTOCOL,
    US_PROTOCOL,
    InfusionOnSameDate,
    InfusionRejected,
    add_result,
    is_replay,
    plan_infusion,
    summarize_courses,
)
from lemtrada.regimen.records import InfusionRoute, PatientRecord, PregnancyEpisode, ResultItem

from .helpers import (
    D,
    analyte,
    checklist,
    course,
    infuse,
    lab,
    pre_course_labs,
    profile,
    request,
    treated,
    with_results,
)

T0 = D("2024-01-15")


def started() -> PatientRecord:
    """Ready patient with the first infusion of course 1 recorded."""
    return course(PatientRecord(profile(), results=checklist(T0)), T0, 1)


def deviations(record: PatientRecord, **changes: Any) -> list[str]:
    day = changes.pop("day", D("2024-01-16"))
    return [d.code for d in plan_infusion(record, request(day, **changes), day, US_PROTOCOL).deviations]


def test_clean_infusions_have_no_deviations_and_count_days() -> None:
    record = course(PatientRecord(profile(), results=checklist(T0)), T0, 5)
    assert [(i.course, i.day, i.deviations) for i in record.infusions] == [(1, d, ()) for d in range(1, 6)]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"route": InfusionRoute.IV_PUSH}, ["iv_push_or_bolus"]),
        ({"route": InfusionRoute.IV_BOLUS}, ["iv_push_or_bolus"]),
        ({"co_infused": True}, ["co_infusion"]),
        ({"dose_mg": 10.0}, ["dose_not_12mg"]),
        ({"methylprednisolone_mg": 500.0}, ["no_corticosteroid_premedication"]),
        ({"observation_minutes": 119}, ["observation_under_2h"]),
        ({"observation_minutes": None}, []),
        ({"batch_number": None}, ["no_batch_number"]),
        ({"batch_number": "  "}, ["no_batch_number"]),
        ({"antiviral_prophylaxis": False}, []),  # only day 1
        ({"day": D("2024-01-17")}, ["course_interrupted"]),
    ],
)
def test_each_deviation_on_day_two(changes: dict[str, Any], expected: list[str]) -> None:
    assert deviations(started(), **changes) == expected


def test_timing_deviations() -> None:
    start = request(D("2024-01-16")).started_at
    short = {"ended_at": start + timedelta(hours=3, minutes=59)}
    assert deviations(started(), **short) == ["infusion_under_4h"]
    assert deviations(started(), ended_at=start + timedelta(hours=4)) == []
    stale = {"diluted_at": start - timedelta(hours=8, minutes=1)}
    assert deviations(started(), **stale) == ["started_over_8h_after_dilution"]
    assert deviations(started(), diluted_at=start - timedelta(hours=8)) == []


def test_day_one_rules() -> None:
    fresh = PatientRecord(profile(), results=checklist(T0))
    assert deviations(fresh, day=T0, antiviral_prophylaxis=False) == ["no_herpes_prophylaxis"]
    bare = PatientRecord(profile())
    found = plan_infusion(bare, request(T0), T0, US_PROTOCOL).deviations
    assert [d.code for d in found] == ["started_with_blockers"]
    assert "baseline_labs" in (found[0].detail or "")
    assert "tb_screening" in (found[0].detail or "")
    assert found[0].severity == "critical"


def test_corticosteroids_are_expected_on_days_one_to_three_only() -> None:
    record = course(PatientRecord(profile(), results=checklist(T0)), T0, 2)
    assert deviations(record, day=D("2024-01-17"), methylprednisolone_mg=0.0) == ["no_corticosteroid_premedication"]
    record = course(record, D("2024-01-17"), 1)
    assert deviations(record, day=D("2024-01-18"), methylprednisolone_mg=0.0) == []


def test_pregnancy_deviation() -> None:
    record = replace(started(), profile=profile(pregnancies=(PregnancyEpisode(D("2024-01-16")),)))
    assert deviations(record) == ["pregnancy"]


def test_course_too_early_lists_its_blockers() -> None:
    record = with_results(treated("2024-01-15"), *pre_course_labs(D("2024-12-01")))
    infusion = plan_infusion(record, request(D("2024-12-01")), D("2024-12-01"), US_PROTOCOL)
    assert (infusion.course, infusion.day) == (2, 1)
    assert [d.code for d in infusion.deviations] == ["course_too_early", "started_with_blockers"]
    assert infusion.deviations[1].detail == "blockers: too_early"


def test_course_two_on_time() -> None:
    record = treated("2024-01-15", ("2025-01-20",))
    assert [(i.course, i.day) for i in record.infusions[5:]] == [(2, 1), (2, 2), (2, 3)]
    assert all(not i.deviations for i in record.infusions)
    summary = summarize_courses(record, US_PROTOCOL)
    assert [(s.course, s.infusions, s.required, s.complete) for s in summary] == [(1, 5, 5, True), (2, 3, 3, True)]
    assert (summary[1].first_date, summary[1].last_date) == (D("2025-01-20"), D("2025-01-22"))


def test_interrupted_course_continues_unless_overridden() -> None:
    record = course(PatientRecord(profile(), results=checklist(T0)), T0, 3)
    natural = plan_infusion(record, request(D("2025-01-20")), D("2025-01-20"), US_PROTOCOL)
    assert (natural.course, natural.day) == (1, 4)
    assert [d.code for d in natural.deviations] == ["course_interrupted"]
    record = with_results(record, *pre_course_labs(D("2025-01-20")))
    closed = plan_infusion(record, request(D("2025-01-20"), course=2), D("2025-01-20"), US_PROTOCOL)
    assert (closed.course, closed.day, closed.deviations) == (2, 1, ())
    assert not summarize_courses(record, US_PROTOCOL)[0].complete


@pytest.mark.parametrize("override", [0, 3, -1])
def test_override_that_makes_no_sense(override: int) -> None:
    with pytest.raises(InfusionRejected) as raised:
        plan_infusion(started(), request(D("2024-01-16"), course=override), D("2024-01-16"), US_PROTOCOL)
    assert [e.code for e in raised.value.errors] == ["invalid_course"]


def test_override_cannot_overfill_a_course() -> None:
    record = course(PatientRecord(profile(), results=checklist(T0)), T0, 5)
    with pytest.raises(InfusionRejected):
        plan_infusion(record, request(D("2024-01-20"), course=1), D("2024-01-20"), US_PROTOCOL)


@pytest.mark.parametrize(
    ("changes", "today", "codes"),
    [
        ({}, "2024-01-15", ["date_in_future"]),
        ({"dose_mg": 0.0}, "2024-01-16", ["dose_out_of_range"]),
        ({"dose_mg": 100.5}, "2024-01-16", ["dose_out_of_range"]),
        ({"dose_mg": float("nan")}, "2024-01-16", ["dose_out_of_range"]),
        ({"methylprednisolone_mg": -1.0}, "2024-01-16", ["premedication_out_of_range"]),
        ({"observation_minutes": -5}, "2024-01-16", ["observation_out_of_range"]),
    ],
)
def test_rejections(changes: dict[str, Any], today: str, codes: list[str]) -> None:
    with pytest.raises(InfusionRejected) as raised:
        plan_infusion(started(), request(D("2024-01-16"), **changes), D(today), US_PROTOCOL)
    assert [e.code for e in raised.value.errors] == codes


def test_time_order_rejections() -> None:
    base = request(D("2024-01-16"))
    backwards = replace(base, ended_at=base.started_at)
    early = replace(base, diluted_at=base.started_at + timedelta(minutes=1))
    naive = replace(base, started_at=base.started_at.replace(tzinfo=None))
    for req, code in (
        (backwards, "ended_not_after_started"),
        (early, "started_before_diluted"),
        (naive, "naive_datetime"),
    ):
        with pytest.raises(InfusionRejected) as raised:
            plan_infusion(started(), req, D("2024-01-16"), US_PROTOCOL)
        assert [e.code for e in raised.value.errors] == [code]


def test_same_date_conflict_and_replay() -> None:
    record = started()
    replay = request(T0)
    with pytest.raises(InfusionOnSameDate) as raised:
        plan_infusion(record, replay, T0, US_PROTOCOL)
    assert is_replay(raised.value.existing, replay)
    assert is_replay(raised.value.existing, replace(replay, course=1))
    assert not is_replay(raised.value.existing, replace(replay, dose_mg=11.0))
    assert not is_replay(raised.value.existing, replace(replay, course=2))


def test_eu_fifth_course_is_stored_with_exceeds_max_courses() -> None:
    record = treated("2020-01-06", ("2021-01-11", "2022-01-17", "2023-01-23"))
    record = with_results(record, *pre_course_labs(D("2024-02-01")))
    eu = plan_infusion(record, request(D("2024-02-01")), D("2024-02-01"), EU_PROTOCOL)
    assert eu.course == 5
    assert [d.code for d in eu.deviations] == ["started_with_blockers", "exceeds_max_courses"]
    assert eu.deviations[0].detail == "blockers: max_courses"
    us = plan_infusion(record, request(D("2024-02-01")), D("2024-02-01"), US_PROTOCOL)
    assert (us.course, us.deviations) == (5, ())
    nxt = plan_infusion(
        infuse(record, "2024-02-01", EU_PROTOCOL), request(D("2024-02-02")), D("2024-02-02"), EU_PROTOCOL
    )
    assert [d.code for d in nxt.deviations] == ["exceeds_max_courses"]


def test_active_infection_is_a_deviation_on_every_infusion_day() -> None:
    """DESIGN 7: checked on every day, not only as a readiness blocker of a course's first infusion."""
    record = replace(started(), profile=profile(active_infection=True))
    assert deviations(record) == ["infused_with_active_infection"]
    assert deviations(record, day=D("2024-01-17")) == ["infused_with_active_infection", "course_interrupted"]
    fresh = PatientRecord(profile(active_infection=True), results=checklist(T0))
    first = plan_infusion(fresh, request(T0), T0, US_PROTOCOL).deviations
    assert [(d.code, d.severity) for d in first] == [
        ("started_with_blockers", "critical"),
        ("infused_with_active_infection", "critical"),
    ]
    assert first[0].detail == "blockers: active_infection"
    assert US_PROTOCOL.source("infused_with_active_infection") == "US PI 5.17 (Infections)"


def test_corticosteroid_rule_is_the_methylprednisolone_equivalent_dose() -> None:
    assert "methylprednisolone-equivalent" in US_PROTOCOL.rule("no_corticosteroid_premedication").text


def test_a_course_started_over_an_open_critical_finding_is_a_deviation() -> None:
    low = lab(ResultItem.CBC, T0 - timedelta(days=3), analyte("platelets", 40.0), rid="low")
    record, added = add_result(PatientRecord(profile(), results=checklist(T0)), low, US_PROTOCOL)
    assert [f.code for f in added] == ["platelets_below_100"]
    found = plan_infusion(record, request(T0), T0, US_PROTOCOL).deviations
    assert [(d.code, d.detail) for d in found] == [("started_with_blockers", "blockers: open_critical_finding")]
