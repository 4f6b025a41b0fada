"""Worked scenarios with dates written out by hand."""

from __future__ import annotations

from datetime import date

import pytest
from lemtrada.regimen import (
    EU_PROTOCOL,
    US_PROTOCOL,
    OccurrenceStatus,
    build_schedule,
    patient_status,
    satisfied_occurrence,
)
from lemtrada.regimen.records import PatientRecord, PatientStatus, ResultItem, Sex

from .helpers import D, analyte, checklist, course, lab, profile, result, treated, with_results


def dues(record: PatientRecord, item: ResultItem, as_of: date) -> list[date]:
    return [o.due_date for o in build_schedule(record, as_of, US_PROTOCOL).occurrences if o.item == item]


def milestones(record: PatientRecord, as_of: date) -> dict[str, list[date]]:
    out: dict[str, list[date]] = {}
    for m in build_schedule(record, as_of, US_PROTOCOL).milestones:
        out.setdefault(m.code, []).append(m.date)
    return out


def test_three_courses_and_48_months_of_monitoring() -> None:
    record = treated("2024-01-15", ("2025-01-20", "2026-02-02"))
    record = with_results(record, result(ResultItem.CD4, "2024-02-10", value=250.0))
    end = D("2031-01-01")
    schedule = build_schedule(record, end, US_PROTOCOL)
    assert schedule.monitoring_ends == D("2030-02-04")  # L = 2026-02-04
    assert schedule.status == PatientStatus.COMPLETED
    cbc = dues(record, ResultItem.CBC, end)
    assert (len(cbc), cbc[0], cbc[1], cbc[-1]) == (72, D("2024-02-15"), D("2024-03-15"), D("2030-01-15"))
    thyroid = dues(record, ResultItem.THYROID, end)
    assert (len(thyroid), thyroid[0], thyroid[-1]) == (24, D("2024-04-15"), D("2030-01-15"))
    assert dues(record, ResultItem.SKIN_EXAM, end) == [D(f"{y}-01-15") for y in range(2025, 2031)]
    assert dues(record, ResultItem.HPV_SCREENING, end) == [D(f"{y}-01-15") for y in range(2025, 2031)]
    assert milestones(record, end) == {
        "herpes_prophylaxis_may_stop": [D("2024-03-19")],  # later of E_1 + 2 months and the cd4 on 2024-02-10
        "contraception_window_ends": [D("2024-05-19"), D("2025-05-22"), D("2026-06-04")],
        "course_2_due_soon": [D("2024-12-20")],
        "course_2_due": [D("2025-01-19")],
        "next_course_eligible": [D("2026-01-22"), D("2027-02-04")],
        "monitoring_complete": [D("2030-02-05")],
    }
    assert all(m.reached for m in schedule.milestones)


@pytest.mark.parametrize(
    ("as_of", "status"),
    [
        ("2024-01-14", PatientStatus.ENROLLED),
        ("2024-01-15", PatientStatus.IN_TREATMENT),
        ("2024-01-19", PatientStatus.MONITORING),
        ("2025-01-21", PatientStatus.IN_TREATMENT),
        ("2025-01-22", PatientStatus.MONITORING),
        ("2030-02-04", PatientStatus.MONITORING),
        ("2030-02-05", PatientStatus.COMPLETED),
    ],
)
def test_patient_status_over_time(as_of: str, status: PatientStatus) -> None:
    record = treated("2024-01-15", ("2025-01-20", "2026-02-02"))
    assert patient_status(record, D(as_of), US_PROTOCOL) == status


def test_withdrawn_status() -> None:
    record = treated("2024-01-15", withdrawn_on=D("2024-06-01"))
    assert patient_status(record, D("2024-05-31"), US_PROTOCOL) == PatientStatus.MONITORING
    assert patient_status(record, D("2024-06-01"), US_PROTOCOL) == PatientStatus.WITHDRAWN


def test_as_of_ignores_later_courses() -> None:
    record = treated("2024-01-15", ("2025-01-20",))
    before = build_schedule(record, D("2025-01-19"), US_PROTOCOL)
    assert before.monitoring_ends == D("2028-01-19")
    assert [m.code for m in before.milestones if m.code.startswith("course_2")] == ["course_2_due_soon", "course_2_due"]
    after = build_schedule(record, D("2025-01-22"), US_PROTOCOL)
    assert after.monitoring_ends == D("2029-01-22")


def test_course_two_started_before_due_date_drops_course_two_milestones() -> None:
    record = treated("2024-01-15", ("2024-12-10",))
    assert "course_2_due" not in milestones(record, D("2026-01-01"))
    assert "course_2_due_soon" not in milestones(record, D("2026-01-01"))


def test_men_get_no_hpv_and_no_contraception_milestone() -> None:
    record = treated("2024-01-15", sex=Sex.MALE, reproductive=False)
    assert dues(record, ResultItem.HPV_SCREENING, D("2030-01-01")) == []
    assert "contraception_window_ends" not in milestones(record, D("2030-01-01"))


def cbc_k1(record: PatientRecord, as_of: str) -> tuple[OccurrenceStatus, str | None]:
    occ = next(o for o in build_schedule(record, D(as_of), US_PROTOCOL).occurrences if o.item == "cbc" and o.k == 1)
    return occ.status, occ.satisfied_by


@pytest.mark.parametrize(
    ("as_of", "status"),
    [
        ("2024-02-07", OccurrenceStatus.UPCOMING),
        ("2024-02-08", OccurrenceStatus.DUE),  # window opens D_1 - 7
        ("2024-02-22", OccurrenceStatus.DUE),  # D_1 + 7
        ("2024-02-23", OccurrenceStatus.OVERDUE),
        ("2024-03-07", OccurrenceStatus.OVERDUE),
        ("2024-03-08", OccurrenceStatus.MISSED),  # O_2
    ],
)
def test_occurrence_status_timeline(as_of: str, status: OccurrenceStatus) -> None:
    record = treated("2024-01-15")
    assert cbc_k1(record, as_of) == (status, None)
    occ = build_schedule(record, D(as_of), US_PROTOCOL).occurrences[0]
    assert (occ.due_date, occ.window_opens, occ.period_ends) == (D("2024-02-15"), D("2024-02-08"), D("2024-03-08"))


def test_late_result_satisfies_its_own_period() -> None:
    record = with_results(treated("2024-01-15"), result(ResultItem.CBC, "2024-03-01", rid="late"))
    assert cbc_k1(record, "2024-02-29") == (OccurrenceStatus.OVERDUE, None)  # not yet as of that day
    assert cbc_k1(record, "2024-03-01") == (OccurrenceStatus.DONE, "late")
    occ = satisfied_occurrence(record, "late", D("2024-03-01"), US_PROTOCOL)
    assert occ is not None
    assert (occ.item, occ.k) == (ResultItem.CBC, 1)


def test_result_after_the_period_never_satisfies_an_earlier_occurrence() -> None:
    record = with_results(treated("2024-01-15"), result(ResultItem.CBC, "2024-03-09", rid="next"))
    assert cbc_k1(record, "2024-04-01") == (OccurrenceStatus.MISSED, None)
    occ = satisfied_occurrence(record, "next", D("2024-04-01"), US_PROTOCOL)
    assert occ is not None
    assert (occ.k, occ.due_date, occ.status) == (2, D("2024-03-15"), OccurrenceStatus.DONE)


def test_early_result_before_the_first_window_is_baseline_only() -> None:
    record = with_results(treated("2024-01-15"), result(ResultItem.CBC, "2024-02-07", rid="early"))
    assert satisfied_occurrence(record, "early", D("2024-03-01"), US_PROTOCOL) is None
    record = with_results(treated("2024-01-15"), result(ResultItem.CBC, "2024-02-08", rid="opening"))
    assert cbc_k1(record, "2024-02-08") == (OccurrenceStatus.DONE, "opening")


def test_two_results_in_one_period() -> None:
    record = with_results(
        treated("2024-01-15"),
        result(ResultItem.CBC, "2024-02-10", rid="first"),
        result(ResultItem.CBC, "2024-02-20", rid="second"),
    )
    assert satisfied_occurrence(record, "first", D("2024-03-01"), US_PROTOCOL) is not None
    assert satisfied_occurrence(record, "second", D("2024-03-01"), US_PROTOCOL) is None
    statuses = {
        o.k: o.status for o in build_schedule(record, D("2024-03-20"), US_PROTOCOL).occurrences if o.item == "cbc"
    }
    assert statuses[2] == OccurrenceStatus.DUE


@pytest.mark.parametrize(
    ("t0", "cbc", "thyroid_first", "skin"),
    [
        ("2024-01-29", ["2024-02-29", "2024-03-29", "2024-04-29"], "2024-04-29", ["2025-01-29", "2026-01-29"]),
        ("2024-01-30", ["2024-02-29", "2024-03-30", "2024-04-30"], "2024-04-30", ["2025-01-30", "2026-01-30"]),
        ("2024-01-31", ["2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"], "2024-04-30", ["2025-01-31"]),
        (
            "2024-02-29",
            ["2024-03-29", "2024-04-29"],
            "2024-05-29",
            ["2025-02-28", "2026-02-28", "2027-02-28", "2028-02-29"],
        ),
    ],
)
def test_month_end_anchors_are_clamped_never_chained(
    t0: str, cbc: list[str], thyroid_first: str, skin: list[str]
) -> None:
    first = D(t0)
    record = course(PatientRecord(profile(), results=checklist(first)), first, 5)
    end = D("2030-01-01")
    got = dues(record, ResultItem.CBC, end)
    assert got[: len(cbc)] == [D(d) for d in cbc]
    assert dues(record, ResultItem.THYROID, end)[0] == D(thyroid_first)
    assert dues(record, ResultItem.SKIN_EXAM, end)[: len(skin)] == [D(d) for d in skin]
    if t0.endswith("-01-31") or t0.endswith("-01-29") or t0.endswith("-01-30"):
        assert got[12] == D("2025-02-28")  # T0 + 13 months in a common year


def test_t0_on_29_february_monitoring_end() -> None:
    record = course(PatientRecord(profile(), results=checklist(D("2024-02-29"))), D("2024-02-29"), 5)
    schedule = build_schedule(record, D("2024-04-01"), US_PROTOCOL)
    assert schedule.monitoring_ends == D("2028-03-04")
    assert dues(record, ResultItem.CBC, D("2029-01-01"))[-1] == D("2028-02-29")


def test_eu_herpes_prophylaxis_may_stop_one_month_after_each_course_whatever_the_cd4() -> None:
    record = treated("2024-01-15", ("2025-01-20",))  # E_1 = 2024-01-19, E_2 = 2025-01-22; no cd4 at all
    eu = list(build_schedule(record, D("2026-01-01"), EU_PROTOCOL).milestones)
    stops = [m for m in eu if m.code == "herpes_prophylaxis_may_stop"]
    assert [m.date for m in stops] == [D("2024-02-19"), D("2025-02-22")]
    assert stops[0].source.startswith("EU SmPC 4.2")
    assert "herpes_prophylaxis_may_stop" not in milestones(record, D("2026-01-01"))  # US: needs a cd4 >= 200


@pytest.mark.parametrize(("value", "unit", "reached"), [(199.0, "cells/uL", False), (200.0, "10*6/L", True)])
def test_us_herpes_prophylaxis_reads_the_cd4_analyte(value: float, unit: str, reached: bool) -> None:
    cd4 = lab(ResultItem.CD4, "2024-04-01", analyte("cd4", value, unit))
    record = with_results(treated("2024-01-15"), cd4)
    stops = milestones(record, D("2024-06-01")).get("herpes_prophylaxis_may_stop", [])
    assert stops == ([D("2024-04-01")] if reached else [])
