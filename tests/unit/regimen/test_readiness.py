from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from lemtrada.regimen import EU_PROTOCOL, US_PROTOCOL, assess_readiness
from lemtrada.regimen.records import LabFinding, PatientRecord, PregnancyEpisode, Result, ResultItem, Severity, Sex

from .helpers import D, checklist, course, pre_course_labs, profile, result, treated, with_results

S = D("2024-03-01")


def ready_record(**profile_changes: object) -> PatientRecord:
    return PatientRecord(profile(**profile_changes), results=checklist(S))  # type: ignore[arg-type]


def without(record: PatientRecord, item: ResultItem) -> PatientRecord:
    return replace(record, results=tuple(r for r in record.results if r.item != item))


def test_ready_record_is_ready_now() -> None:
    readiness = assess_readiness(ready_record(), S, US_PROTOCOL)
    assert (readiness.course, readiness.ready, readiness.blockers, readiness.earliest_start) == (1, True, (), S)


@pytest.mark.parametrize(
    ("item", "code"),
    [
        (ResultItem.CBC, "baseline_labs"),
        (ResultItem.URINE_PROTEIN_CREATININE, "baseline_labs"),
        (ResultItem.SKIN_EXAM, "baseline_skin_exam"),
        (ResultItem.IMMUNIZATIONS, "immunizations"),
        (ResultItem.VZV, "vzv_status"),
        (ResultItem.TB_SCREENING, "tb_screening"),
        (ResultItem.LISTERIA_COUNSELING, "listeria_counseling"),
        (ResultItem.FETAL_RISK_EDUCATION, "fetal_risk_education"),
    ],
)
def test_each_missing_entry_blocks_with_no_earliest_start(item: ResultItem, code: str) -> None:
    readiness = assess_readiness(without(ready_record(), item), S, US_PROTOCOL)
    assert [b.code for b in readiness.blockers] == [code]
    assert not readiness.ready
    assert readiness.earliest_start is None
    assert readiness.blockers[0].source
    assert readiness.blockers[0].detail


def test_fetal_risk_education_only_for_females_of_reproductive_potential() -> None:
    for changes in ({"sex": Sex.MALE, "reproductive": False}, {"reproductive": False}):
        record = without(ready_record(**changes), ResultItem.FETAL_RISK_EDUCATION)
        assert assess_readiness(record, S, US_PROTOCOL).ready


def test_baseline_labs_window_is_30_days_and_later_starts_expire_them() -> None:
    record = ready_record()  # labs on 2024-02-20: valid for starts up to 2024-03-21
    assert assess_readiness(record, D("2024-03-21"), US_PROTOCOL).ready
    late = assess_readiness(record, D("2024-03-22"), US_PROTOCOL)
    assert [b.code for b in late.blockers] == ["baseline_labs"]
    assert late.earliest_start is None
    early = assess_readiness(record, D("2024-02-19"), US_PROTOCOL)  # labs not yet taken
    assert "baseline_labs" in [b.code for b in early.blockers]


def test_labs_recorded_after_the_asked_start_move_the_earliest_start() -> None:
    record = ready_record()
    readiness = assess_readiness(record, D("2024-02-15"), US_PROTOCOL)
    assert readiness.earliest_start == D("2024-02-25")  # labs 02-20, counseling and education 02-25


@pytest.mark.parametrize(
    ("immunized", "earliest"),
    [("2024-01-19", "2024-03-01"), ("2024-02-01", "2024-03-14"), ("2024-02-09", "2024-03-22")],
)
def test_immunizations_clear_42_days_after_but_labs_may_expire_first(immunized: str, earliest: str) -> None:
    record = with_results(
        without(ready_record(), ResultItem.IMMUNIZATIONS), result(ResultItem.IMMUNIZATIONS, immunized)
    )
    readiness = assess_readiness(record, S, US_PROTOCOL)
    if immunized == "2024-02-09":  # clears 2024-03-22, one day after the labs expire
        assert readiness.earliest_start is None
    else:
        assert readiness.earliest_start == D(earliest)


@pytest.mark.parametrize(
    ("status", "day", "blocks", "earliest"),
    [
        ("history", "2020-01-01", False, "2024-03-01"),
        ("antibody_positive", "2024-02-01", False, "2024-03-01"),
        ("vaccinated", "2024-01-19", False, "2024-03-01"),
        ("vaccinated", "2024-01-25", True, "2024-03-07"),
        ("antibody_negative", "2024-01-01", True, None),
        ("unknown", "2024-01-01", True, None),
    ],
)
def test_vzv_status(status: str, day: str, blocks: bool, earliest: str | None) -> None:
    record = with_results(without(ready_record(), ResultItem.VZV), result(ResultItem.VZV, day, status=status))
    readiness = assess_readiness(record, S, US_PROTOCOL)
    assert ("vzv_status" in [b.code for b in readiness.blockers]) is blocks
    assert readiness.earliest_start == (D(earliest) if earliest else None)


def test_vzv_negative_then_vaccinated_clears_six_weeks_after_vaccination() -> None:
    record = with_results(
        without(ready_record(), ResultItem.VZV),
        result(ResultItem.VZV, "2023-10-01", status="antibody_negative"),
        result(ResultItem.VZV, "2024-01-10", status="vaccinated"),
    )
    assert assess_readiness(record, S, US_PROTOCOL).ready  # 2024-01-10 + 42 days = 2024-02-21


@pytest.mark.parametrize(("status", "blocks"), [("negative", False), ("treated", False), ("positive", True)])
def test_tb_screening(status: str, blocks: bool) -> None:
    record = with_results(
        without(ready_record(), ResultItem.TB_SCREENING), result(ResultItem.TB_SCREENING, "2024-02-10", status=status)
    )
    readiness = assess_readiness(record, S, US_PROTOCOL)
    assert ("tb_screening" in [b.code for b in readiness.blockers]) is blocks


def test_tb_screening_recorded_after_start_does_not_count_on_the_start() -> None:
    record = with_results(
        without(ready_record(), ResultItem.TB_SCREENING),
        result(ResultItem.TB_SCREENING, "2024-03-05", status="negative"),
    )
    readiness = assess_readiness(record, S, US_PROTOCOL)
    assert [b.code for b in readiness.blockers] == ["tb_screening"]
    assert readiness.earliest_start == D("2024-03-05")


def test_skin_exam_window_is_12_months_with_month_end_clamping() -> None:
    start = D("2024-02-29")
    record = PatientRecord(profile(), results=checklist(start))
    record = with_results(without(record, ResultItem.SKIN_EXAM), result(ResultItem.SKIN_EXAM, "2023-02-28"))
    assert assess_readiness(record, start, US_PROTOCOL).ready  # 2024-02-29 - 12 months = 2023-02-28
    record = with_results(without(record, ResultItem.SKIN_EXAM), result(ResultItem.SKIN_EXAM, "2023-02-27"))
    assert [b.code for b in assess_readiness(record, start, US_PROTOCOL).blockers] == ["baseline_skin_exam"]


def test_pregnancy_blocks_until_it_ends() -> None:
    ongoing = ready_record(pregnancies=(PregnancyEpisode(D("2024-02-01")),))
    readiness = assess_readiness(ongoing, S, US_PROTOCOL)
    assert [b.code for b in readiness.blockers] == ["pregnancy"]
    assert readiness.earliest_start is None
    ended = ready_record(pregnancies=(PregnancyEpisode(D("2024-02-01"), D("2024-03-05")),))
    assert assess_readiness(ended, S, US_PROTOCOL).earliest_start == D("2024-03-05")
    assert assess_readiness(ready_record(pregnancies=(PregnancyEpisode(D("2024-03-02")),)), S, US_PROTOCOL).ready


def test_active_infection_blocks_without_earliest_start() -> None:
    readiness = assess_readiness(ready_record(active_infection=True), S, US_PROTOCOL)
    assert [b.code for b in readiness.blockers] == ["active_infection"]
    assert readiness.earliest_start is None


def test_later_course_too_early_and_pre_course_labs() -> None:
    record = treated("2024-01-15")  # E_1 = 2024-01-19
    asked = assess_readiness(record, D("2024-12-01"), US_PROTOCOL)
    assert asked.course == 2
    assert [b.code for b in asked.blockers] == ["too_early", "pre_course_labs"]
    assert asked.earliest_start is None
    with_labs = with_results(record, *pre_course_labs(D("2025-01-15")))  # drawn 2025-01-10
    later = assess_readiness(with_labs, D("2024-12-01"), US_PROTOCOL)
    assert later.earliest_start == D("2025-01-19")
    assert assess_readiness(with_labs, D("2025-01-19"), US_PROTOCOL).ready
    assert [b.code for b in assess_readiness(with_labs, D("2025-01-18"), US_PROTOCOL).blockers] == ["too_early"]


def test_later_course_does_not_ask_for_the_course_one_checklist() -> None:
    record = treated("2024-01-15")
    record = replace(record, results=pre_course_labs(D("2025-02-01")))
    assert assess_readiness(record, D("2025-02-01"), US_PROTOCOL).ready


def test_eu_blocks_a_fifth_course() -> None:
    record = treated("2020-01-06", ("2021-01-11", "2022-01-17", "2023-01-23"))
    record = with_results(record, *pre_course_labs(D("2024-02-01")))
    assert assess_readiness(record, D("2024-02-01"), US_PROTOCOL).ready
    eu = assess_readiness(record, D("2024-02-01"), EU_PROTOCOL)
    assert (eu.course, [b.code for b in eu.blockers], eu.earliest_start) == (5, ["max_courses"], None)


def test_readiness_ignores_infusions_on_or_after_the_start() -> None:
    record = course(PatientRecord(profile(), results=checklist(S)), S, 2)
    assert assess_readiness(record, S, US_PROTOCOL).course == 1
    assert assess_readiness(record, S + timedelta(days=2), US_PROTOCOL).course == 2


def _critical(day: str, *, acknowledged: bool = False) -> Result:
    found = LabFinding(
        finding_id=f"r-{day}:platelets_below_100",
        result_id=f"r-{day}",
        date=D(day),
        code="platelets_below_100",
        severity=Severity.CRITICAL,
        detail="platelets 15 x10^9/L < 100",
        source=US_PROTOCOL.source("platelets_below_100"),
        acknowledged=acknowledged,
    )
    return replace(result(ResultItem.CBC, day, rid=f"r-{day}"), findings=(found,))


def test_open_critical_finding_blocks_course_one_until_acknowledged() -> None:
    record = with_results(ready_record(), _critical("2024-02-25"))
    readiness = assess_readiness(record, S, US_PROTOCOL)
    assert [b.code for b in readiness.blockers] == ["open_critical_finding"]
    assert readiness.blockers[0].detail == (
        "unacknowledged critical finding(s): platelets_below_100 on 2024-02-25 (r-2024-02-25:platelets_below_100)"
    )
    assert readiness.blockers[0].source == "US PI 5.1 (Autoimmunity)"
    assert readiness.earliest_start is None
    assert assess_readiness(
        with_results(ready_record(), _critical("2024-02-25", acknowledged=True)), S, US_PROTOCOL
    ).ready


def test_open_critical_finding_dated_after_the_start_does_not_block_it() -> None:
    record = with_results(ready_record(), _critical("2024-03-05"))
    assert assess_readiness(record, S, US_PROTOCOL).ready
    assert assess_readiness(record, D("2024-03-05"), US_PROTOCOL).blockers[0].code == "open_critical_finding"


def test_open_critical_finding_blocks_every_later_course_in_both_labels() -> None:
    record = with_results(treated("2024-01-15"), *pre_course_labs(D("2025-02-01")), _critical("2024-06-01"))
    for protocol in (US_PROTOCOL, EU_PROTOCOL):
        readiness = assess_readiness(record, D("2025-02-01"), protocol)
        assert (readiness.course, [b.code for b in readiness.blockers]) == (2, ["open_critical_finding"])


def test_major_findings_do_not_block() -> None:
    critical = _critical("2024-02-25")
    major = replace(critical, findings=(replace(critical.findings[0], severity=Severity.MAJOR),))
    assert assess_readiness(with_results(ready_record(), major), S, US_PROTOCOL).ready
