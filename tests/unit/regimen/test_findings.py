"""Safety findings (DESIGN 7): both sides of every threshold, the history rules, ties, ids, worked scenarios."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from lemtrada.regimen import (
    EU_PROTOCOL,
    US_PROTOCOL,
    LabFinding,
    add_result,
    assess_readiness,
    finding_id,
    findings_for,
    new_findings,
    open_critical_findings,
    open_findings,
)
from lemtrada.regimen.records import Analyte, PatientRecord, Result, ResultItem, Severity

from .helpers import D, analyte, lab, pre_course_labs, profile, treated, with_results

CBC, CREAT, URINE, THYROID, LIVER = (
    ResultItem.CBC,
    ResultItem.CREATININE,
    ResultItem.URINALYSIS,
    ResultItem.THYROID,
    ResultItem.LIVER,
)
DAY = D("2024-03-01")


def codes(result: Result, record: PatientRecord | None = None) -> list[str]:
    record = record or PatientRecord(profile())
    return [f.code for f in findings_for(result, record, US_PROTOCOL)]


def stored(record: PatientRecord, *results: Result) -> PatientRecord:
    """Store results one by one in the order given, as the service does."""
    for result in results:
        record, _ = add_result(record, result, US_PROTOCOL)
    return record


def findings_of(record: PatientRecord) -> dict[str, list[str]]:
    return {r.result_id: [f.code for f in r.findings] for r in record.results if r.findings}


# --- single-result thresholds: both sides of each -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "limits", "expected"),
    [
        (99.9, {}, ["platelets_below_100"]),
        (100.0, {}, ["platelets_below_range"]),
        (149.9, {}, ["platelets_below_range"]),
        (150.0, {}, []),  # default low 150
        (139.9, {"low": 140.0}, ["platelets_below_range"]),
        (140.0, {"low": 140.0}, []),  # the lab's low replaces the default
        (99.0, {"low": 90.0}, ["platelets_below_100"]),  # < 100 is critical whatever the lab says
        (120.0, {"low": 90.0}, []),
    ],
)
def test_platelets(value: float, limits: dict[str, float], expected: list[str]) -> None:
    assert codes(lab(CBC, DAY, analyte("platelets", value, low=limits.get("low")))) == expected


@pytest.mark.parametrize("unit", ["10*9/L", "10*3/uL", "/nL"])
def test_platelets_in_each_unit(unit: str) -> None:
    assert codes(lab(CBC, DAY, analyte("platelets", 99.9, unit))) == ["platelets_below_100"]
    assert codes(lab(CBC, DAY, analyte("platelets", 100.0, unit))) == ["platelets_below_range"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.49, ["neutrophils_below_0_5"]),
        (0.5, ["neutrophils_below_1_0"]),
        (0.99, ["neutrophils_below_1_0"]),
        (1.0, []),
    ],
)
@pytest.mark.parametrize("unit", ["10*9/L", "10*3/uL"])
def test_neutrophils(value: float, expected: list[str], unit: str) -> None:
    assert codes(lab(CBC, DAY, analyte("neutrophils", value, unit))) == expected


@pytest.mark.parametrize(("value", "unit", "expected"), [(2.9, None, []), (3.0, None, ["hematuria"])])
def test_hematuria(value: float, unit: str | None, expected: list[str]) -> None:
    assert codes(lab(URINE, DAY, analyte("urine_rbc", value, unit))) == expected


@pytest.mark.parametrize(
    ("analyte_", "expected"),
    [
        (analyte("tsh", 0.39), ["tsh_out_of_range"]),
        (analyte("tsh", 0.4), []),
        (analyte("tsh", 4.0), []),
        (analyte("tsh", 4.01), ["tsh_out_of_range"]),
        (analyte("tsh", 4.01, "u[IU]/mL"), ["tsh_out_of_range"]),
        (analyte("tsh", 0.39, "u[IU]/mL"), ["tsh_out_of_range"]),
        (analyte("tsh", 4.5, high=5.0), []),  # the lab's high replaces 4.0
        (analyte("tsh", 0.35, low=0.3), []),
        (analyte("tsh", 5.01, high=5.0), ["tsh_out_of_range"]),
        (analyte("free_t4", 1.0), []),  # free T4 alone raises nothing
    ],
)
def test_tsh(analyte_: Analyte, expected: list[str]) -> None:
    assert codes(lab(THYROID, DAY, analyte_)) == expected


@pytest.mark.parametrize("code", ["alt", "ast"])
@pytest.mark.parametrize(
    ("value", "unit", "high", "expected"),
    [
        (120.0, None, None, []),  # 3 x default 40, not above
        (120.1, None, None, ["transaminases_above_3x_uln"]),
        (120.1, "[IU]/L", None, ["transaminases_above_3x_uln"]),
        (150.0, None, 50.0, []),
        (150.1, None, 50.0, ["transaminases_above_3x_uln"]),
    ],
)
def test_transaminases(code: str, value: float, unit: str | None, high: float | None, expected: list[str]) -> None:
    assert codes(lab(LIVER, DAY, analyte(code, value, unit, high=high))) == expected


@pytest.mark.parametrize(
    ("bilirubin", "expected"),
    [
        (analyte("bilirubin_total", 42.0), ["transaminases_above_3x_uln"]),  # 2 x default 21, not above
        (analyte("bilirubin_total", 42.1), ["transaminases_above_3x_uln", "hys_law"]),
        (analyte("bilirubin_total", 2.45, "mg/dL"), ["transaminases_above_3x_uln"]),  # 41.9 umol/L
        (analyte("bilirubin_total", 2.46, "mg/dL"), ["transaminases_above_3x_uln", "hys_law"]),  # 42.07 umol/L
        (analyte("bilirubin_total", 50.0, high=25.0), ["transaminases_above_3x_uln"]),
    ],
)
def test_hys_law_in_one_result(bilirubin: Analyte, expected: list[str]) -> None:
    assert codes(lab(LIVER, DAY, analyte("alt", 121.0), bilirubin)) == expected


def test_hys_law_needs_the_transaminase_side() -> None:
    assert codes(lab(LIVER, DAY, analyte("alt", 120.0), analyte("bilirubin_total", 100.0))) == []


def test_hys_law_across_two_results_of_the_same_date_is_raised_once_on_the_later_id() -> None:
    first = lab(LIVER, DAY, analyte("bilirubin_total", 60.0), rid="b")
    second = lab(LIVER, DAY, analyte("ast", 200.0), rid="a")  # typed second, sorts first
    record = stored(PatientRecord(profile()), first, second)
    assert findings_of(record) == {"a": ["transaminases_above_3x_uln"], "b": ["hys_law"]}
    other_day = stored(PatientRecord(profile()), first, replace(second, date=DAY - timedelta(days=1)))
    assert "hys_law" not in [f.code for f in open_findings(other_day)]


# --- rules that read the history ------------------------------------------------------------------------------


def platelets(day: str, value: float, rid: str | None = None) -> Result:
    return lab(CBC, day, analyte("platelets", value), rid=rid)


@pytest.mark.parametrize(
    ("previous", "value", "expected"),
    [
        (300.0, 150.0, ["platelets_halved"]),  # exactly 50%
        (300.0, 150.1, []),
        (200.0, 100.0, ["platelets_below_range", "platelets_halved"]),
        (300.0, 99.0, ["platelets_below_100"]),  # under 100 is the critical finding only
        (None, 150.0, []),
    ],
)
def test_platelets_halved(previous: float | None, value: float, expected: list[str]) -> None:
    record = PatientRecord(profile())
    if previous is not None:
        record = with_results(record, platelets("2024-02-01", previous))
    assert codes(platelets("2024-03-01", value), record) == expected


def test_platelets_halved_reads_the_latest_value_dated_before_not_the_latest_typed() -> None:
    record = with_results(
        PatientRecord(profile()),
        platelets("2024-01-01", 400.0),
        platelets("2024-02-01", 250.0),
        platelets("2024-04-01", 100.0),  # dated after: does not exist on 2024-03-01
    )
    assert codes(platelets("2024-03-01", 190.0), record) == []  # 250 is the previous, not 400 or 100
    assert codes(platelets("2024-03-01", 125.0), record) == ["platelets_below_range", "platelets_halved"]


def test_platelets_on_the_same_date_are_not_each_others_previous() -> None:
    record = with_results(PatientRecord(profile()), platelets("2024-02-01", 300.0), platelets("2024-03-01", 400.0))
    assert codes(platelets("2024-03-01", 180.0, rid="z"), record) == []  # previous is 300 (2024-02-01)
    two = with_results(record, platelets("2024-02-01", 380.0, rid="y"))
    assert codes(platelets("2024-03-01", 180.0, rid="z"), two) == ["platelets_halved"]  # highest of that date


def creatinine(day: str, value: float, unit: str | None = None, rid: str | None = None) -> Result:
    return lab(CREAT, day, analyte("creatinine", value, unit), rid=rid)


def test_creatinine_baseline_is_the_latest_on_or_before_t0() -> None:
    record = with_results(
        treated("2024-01-15"), creatinine("2023-12-01", 60.0), creatinine("2024-01-15", 80.0)
    )  # T0 = 2024-01-15
    assert codes(creatinine("2024-03-01", 119.9), record) == []
    assert codes(creatinine("2024-03-01", 120.0), record) == ["creatinine_rise"]  # 1.5 x 80, not x 60
    assert codes(creatinine("2024-03-01", 120.0 / 88.42, "mg/dL"), record) == ["creatinine_rise"]
    later = with_results(record, creatinine("2024-02-01", 40.0))  # after T0: not a baseline
    assert codes(creatinine("2024-03-01", 119.9), later) == []


def test_creatinine_baseline_without_one_before_t0_is_the_first_recorded() -> None:
    record = with_results(treated("2024-01-15"), creatinine("2024-02-10", 70.0), creatinine("2024-02-20", 90.0))
    assert codes(creatinine("2024-03-01", 104.9), record) == []
    assert codes(creatinine("2024-03-01", 105.0), record) == ["creatinine_rise"]


def test_creatinine_baseline_as_of_the_results_date() -> None:
    """Before any infusion there is no T0: the first recorded value is the baseline."""
    record = with_results(treated("2024-01-15"), creatinine("2023-11-01", 50.0), creatinine("2024-01-10", 100.0))
    assert codes(creatinine("2024-01-01", 75.0), record) == ["creatinine_rise"]  # vs 2023-11-01, T0 not yet
    assert codes(creatinine("2024-03-01", 149.9), record) == []  # vs 2024-01-10, the latest before T0
    assert codes(creatinine("2024-03-01", 150.0), record) == ["creatinine_rise"]
    assert codes(creatinine("2023-11-01", 50.0, rid="first"), PatientRecord(profile())) == []  # its own baseline


def test_creatinine_baseline_with_two_values_on_its_date_takes_the_lowest() -> None:
    record = with_results(
        treated("2024-01-15"), creatinine("2024-01-10", 100.0, rid="a"), creatinine("2024-01-10", 80.0, rid="b")
    )
    assert codes(creatinine("2024-03-01", 120.0), record) == ["creatinine_rise"]


def urine(day: str, rbc: float, rid: str | None = None) -> Result:
    return lab(URINE, day, analyte("urine_rbc", rbc), rid=rid)


RENAL_BASE = ("2024-01-10", 80.0)


@pytest.mark.parametrize(("gap", "pair"), [(0, True), (20, True), (30, True), (31, False)])
@pytest.mark.parametrize("rise_first", [True, False])
def test_renal_autoimmunity_pair_within_30_days_raised_on_the_later(gap: int, pair: bool, rise_first: bool) -> None:
    base = with_results(treated("2024-01-15"), creatinine(*RENAL_BASE))
    first_day = D("2024-03-01")
    later_day = (first_day + timedelta(days=gap)).isoformat()
    rise_day, blood_day = (first_day.isoformat(), later_day) if rise_first else (later_day, first_day.isoformat())
    rise = creatinine(rise_day, 130.0, rid="c")
    blood = urine(blood_day, 5.0, rid="u")
    record = stored(base, rise, blood)
    later = "u" if rise_first else "c"
    if gap == 0:
        later = "u"  # same date: the later of the pair by result_id
    expected = findings_of(record)
    assert ("renal_autoimmunity_suspected" in expected[later]) is pair
    earlier = {"u": "c", "c": "u"}[later]
    assert "renal_autoimmunity_suspected" not in expected[earlier]
    renal = [f for f in open_findings(record) if f.code == "renal_autoimmunity_suspected"]
    assert len(renal) == (1 if pair else 0)
    if pair:
        assert renal[0].severity == Severity.CRITICAL


def test_renal_pair_typed_in_late_is_raised_on_the_later_result_already_stored() -> None:
    """Haematuria stored first (dated 03-21), then a creatinine rise dated 03-01 typed in late."""
    base = with_results(treated("2024-01-15"), creatinine(*RENAL_BASE))
    record = stored(base, urine("2024-03-21", 5.0, rid="u"))
    assert findings_of(record) == {"u": ["hematuria"]}
    record, added = add_result(record, creatinine("2024-03-01", 130.0, rid="c"), US_PROTOCOL)
    assert [(f.result_id, f.code) for f in added] == [
        ("c", "creatinine_rise"),
        ("u", "renal_autoimmunity_suspected"),
    ]
    assert findings_of(record) == {"c": ["creatinine_rise"], "u": ["hematuria", "renal_autoimmunity_suspected"]}


# --- worked scenarios -----------------------------------------------------------------------------------------


def test_platelets_falling_over_three_months() -> None:
    """Baseline 280; 240 a month after T0 (fine), 118 the next (below range and halved), 60 the next (ITP range):
    the critical finding blocks course 2 until acknowledged."""
    record = with_results(treated("2024-01-15"), platelets("2024-01-05", 280.0, rid="base"))
    months = [("2024-02-15", 240.0, []), ("2024-03-15", 118.0, ["platelets_below_range", "platelets_halved"])]
    months.append(("2024-04-15", 60.0, ["platelets_below_100"]))
    for day, value, expected in months:
        record, added = add_result(record, platelets(day, value, rid=day), US_PROTOCOL)
        assert [f.code for f in added] == expected
        assert all(f.result_id == day for f in added)
    critical = open_critical_findings(record)
    assert [(f.finding_id, f.date, f.severity) for f in critical] == [
        ("2024-04-15:platelets_below_100", D("2024-04-15"), Severity.CRITICAL)
    ]
    assert critical[0].source.startswith("US PI 5.6 (Immune Thrombocytopenia)")
    assert "60" in critical[0].detail
    course_two = with_results(record, *pre_course_labs(D("2025-01-20")))
    readiness = assess_readiness(course_two, D("2025-01-20"), US_PROTOCOL)
    assert [b.code for b in readiness.blockers] == ["open_critical_finding"]
    assert "2024-04-15:platelets_below_100" in readiness.blockers[0].detail
    assert readiness.earliest_start is None
    acknowledged = acknowledge(course_two, "2024-04-15:platelets_below_100")
    assert assess_readiness(acknowledged, D("2025-01-20"), US_PROTOCOL).ready
    assert [f.code for f in open_findings(acknowledged)] == ["platelets_below_range", "platelets_halved"]


def acknowledge(record: PatientRecord, fid: str) -> PatientRecord:
    results = tuple(
        replace(r, findings=tuple(replace(f, acknowledged=True) if f.finding_id == fid else f for f in r.findings))
        for r in record.results
    )
    return replace(record, results=results)


@pytest.mark.parametrize(("apart", "renal"), [(20, True), (31, False)])
def test_creatinine_rise_with_haematuria(apart: int, renal: bool) -> None:
    record = with_results(treated("2024-01-15"), creatinine("2024-01-10", 70.0))
    record, first = add_result(record, creatinine("2024-02-15", 112.0, rid="c"), US_PROTOCOL)
    assert [f.code for f in first] == ["creatinine_rise"]  # 112 >= 1.5 x 70 = 105
    day = (D("2024-02-15") + timedelta(days=apart)).isoformat()
    record, second = add_result(record, urine(day, 8.0, rid="u"), US_PROTOCOL)
    expected = ["hematuria", "renal_autoimmunity_suspected"] if renal else ["hematuria"]
    assert [f.code for f in second] == expected
    blocked = [b.code for b in assess_readiness(record, D("2024-06-01"), US_PROTOCOL).blockers]
    assert ("open_critical_finding" in blocked) is renal


# --- ids, idempotence, sources ---------------------------------------------------------------------------------


def test_finding_ids_are_result_id_and_code_and_rerunning_adds_nothing() -> None:
    record = stored(
        PatientRecord(profile()),
        lab(CBC, "2024-03-01", analyte("platelets", 50.0), analyte("neutrophils", 0.3), rid="r1"),
        lab(LIVER, "2024-03-01", analyte("alt", 300.0), analyte("bilirubin_total", 50.0), rid="r2"),
    )
    ids = [f.finding_id for f in open_findings(record)]
    assert ids == [
        "r1:platelets_below_100",
        "r1:neutrophils_below_0_5",
        "r2:transaminases_above_3x_uln",
        "r2:hys_law",
    ]
    assert finding_id("r1", "hys_law") == "r1:hys_law"
    assert new_findings(record, D("2000-01-01"), US_PROTOCOL) == ()
    again, added = add_result(record, lab(CBC, "2024-03-01", analyte("wbc", 5.0), rid="r3"), US_PROTOCOL)
    assert added == ()
    assert open_findings(again) == open_findings(record)


def test_every_finding_carries_its_rule_severity_and_source() -> None:
    codes_seen = set()
    for protocol, prefix in ((US_PROTOCOL, "US PI 5."), (EU_PROTOCOL, "EU SmPC 4.4")):
        found = findings_for(
            lab(LIVER, DAY, analyte("alt", 300.0), analyte("bilirubin_total", 60.0), rid="x"),
            PatientRecord(profile()),
            protocol,
        )
        for f in found:
            assert isinstance(f, LabFinding)
            assert f.source.startswith(prefix)
            assert f.severity == protocol.severity(f.code)
            codes_seen.add(f.code)
    assert codes_seen == {"transaminases_above_3x_uln", "hys_law"}


def test_a_result_without_analytes_raises_nothing() -> None:
    assert codes(Result("r", CBC, DAY)) == []
    assert codes(Result("r", ResultItem.CD4, DAY, value=20.0)) == []


def test_open_findings_as_of_a_date() -> None:
    record = stored(PatientRecord(profile()), platelets("2024-03-01", 50.0), platelets("2024-05-01", 50.0))
    assert [f.date for f in open_findings(record, D("2024-04-01"))] == [D("2024-03-01")]
    assert len(open_critical_findings(record)) == 2
