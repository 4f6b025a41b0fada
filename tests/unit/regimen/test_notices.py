from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from lemtrada.regimen import US_PROTOCOL, Notice, add_result, finding_key, next_check, notices_due
from lemtrada.regimen.records import PatientRecord, PregnancyEpisode, Result, ResultItem, Severity

from .helpers import D, analyte, lab, profile, result, treated, with_results


def keys(record: PatientRecord, on: date, sent: frozenset[str] = frozenset()) -> list[str]:
    return [n.key for n in notices_due(record, on, sent, US_PROTOCOL)]


def monthly(k: int, state: str) -> list[str]:
    return [f"p1#occurrence#{item}#{k}#{state}" for item in ("cbc", "creatinine", "urinalysis", "liver")]


def test_first_due_notices_and_keys() -> None:
    record = treated("2024-01-15")
    assert keys(record, D("2024-02-07")) == []
    assert keys(record, D("2024-02-08")) == monthly(1, "due")
    notice = notices_due(record, D("2024-02-08"), frozenset(), US_PROTOCOL)[0]
    assert notice.to_digest_item() == {
        "patient_id": "p1",
        "kind": "occurrence",
        "code": "cbc",
        "k": 1,
        "state": "due",
        "due_date": "2024-02-15",
    }


def test_escalation_each_state_once() -> None:
    record = treated("2024-01-15")
    sent = frozenset(monthly(1, "due"))
    assert keys(record, D("2024-02-22"), sent) == []
    assert keys(record, D("2024-02-23"), sent) == monthly(1, "overdue")
    sent |= frozenset(monthly(1, "overdue"))
    assert keys(record, D("2024-03-08"), sent) == monthly(1, "missed") + monthly(2, "due")


def test_skipped_state_is_not_sent_afterwards() -> None:
    record = treated("2024-01-15")
    assert keys(record, D("2024-03-08")) == monthly(1, "missed") + monthly(2, "due")


def test_deviation_and_milestone_items() -> None:
    deviation = Notice("k", "p1", "deviation", "dose_not_12mg", date=D("2024-01-16"), severity=Severity.MAJOR)
    assert deviation.to_digest_item() == {
        "patient_id": "p1",
        "kind": "deviation",
        "code": "dose_not_12mg",
        "date": "2024-01-16",
        "severity": "major",
    }
    record = treated("2024-01-15")
    on = D("2024-05-19")  # contraception window of course 1 ends
    sent = frozenset(n.key for n in notices_due(record, on - timedelta(days=1), frozenset(), US_PROTOCOL))
    assert keys(record, on, sent) == ["p1#milestone#contraception_window_ends#2024-05-19"]


def test_deviations_owed_from_their_infusion_date() -> None:
    record = treated("2024-01-15")
    bad = replace(record.infusions[1], deviations=(*record.infusions[1].deviations,))
    from lemtrada.regimen.records import Deviation

    bad = replace(bad, deviations=(Deviation("dose_not_12mg", Severity.MAJOR, "10 mg"),))
    record = replace(record, infusions=(record.infusions[0], bad, *record.infusions[2:]))
    assert keys(record, D("2024-01-15")) == []
    assert keys(record, D("2024-01-16")) == ["p1#deviation#dose_not_12mg#2024-01-16"]
    assert next_check(record, frozenset(), US_PROTOCOL) == D("2024-01-16")


def test_withdrawn_patients_get_nothing_and_pregnancy_does_not_stop_monitoring() -> None:
    withdrawn = treated("2024-01-15", withdrawn_on=D("2024-02-01"))
    assert keys(withdrawn, D("2024-02-08")) == []
    assert next_check(withdrawn, frozenset(), US_PROTOCOL, after=D("2024-01-31")) is None
    pregnant = treated("2024-01-15", pregnancies=(PregnancyEpisode(D("2024-02-01")),))
    assert keys(pregnant, D("2024-02-08")) == monthly(1, "due")


def test_milestone_superseded_by_its_chain_and_catch_up_horizon() -> None:
    record = treated("2024-01-15")  # course_2_due_soon 2024-12-20, course_2_due 2025-01-19
    owed = [k for k in keys(record, D("2025-01-19")) if "milestone" in k]
    assert owed == ["p1#milestone#course_2_due#2025-01-19"]
    assert [k for k in keys(record, D("2024-12-20")) if "milestone" in k] == [
        "p1#milestone#course_2_due_soon#2024-12-20"
    ]
    assert [k for k in keys(record, D("2025-02-18")) if "milestone" in k] == ["p1#milestone#course_2_due#2025-01-19"]
    assert [k for k in keys(record, D("2025-02-19")) if "milestone" in k] == []  # older than 30 days


def test_next_check_follows_transitions() -> None:
    record = treated("2024-01-15")
    assert next_check(record, frozenset(), US_PROTOCOL) == D("2024-02-08")
    sent = frozenset(monthly(1, "due"))
    assert next_check(record, sent, US_PROTOCOL, after=D("2024-02-08")) == D("2024-02-23")
    done = with_results(
        record, *(result(ResultItem(i), "2024-02-10") for i in ("cbc", "creatinine", "urinalysis", "liver"))
    )
    assert next_check(done, sent, US_PROTOCOL, after=D("2024-02-08")) == D("2024-03-08")  # k=2 window opens


def test_next_check_none_after_everything_is_sent() -> None:
    """M = 2028-01-19: the last occurrences still escalate after it (cbc k=48 due 2028-01-15 goes overdue on
    2028-01-23 and missed on 2028-02-08), monitoring_complete comes on 2028-01-20, then nothing more."""
    record = treated("2024-01-15")
    sent: set[str] = set()
    day: date | None = D("2028-01-19")
    visited = []
    while day is not None:
        sent.update(n.key for n in notices_due(record, day, frozenset(sent), US_PROTOCOL))
        visited.append(day)
        day = next_check(record, frozenset(sent), US_PROTOCOL, after=day)
    # thyroid k=16 and the yearly items (due 2028-01-15) go missed at the end of their own periods
    assert visited == [
        D(d) for d in ("2028-01-19", "2028-01-20", "2028-01-23", "2028-02-08", "2028-04-08", "2029-01-08")
    ]


def test_late_entered_record_owes_only_what_outlived_enrollment() -> None:
    """Treated from 2020, enrolled 2023-11-01 (DESIGN 8): what was missed before enrollment is history; the first
    owed day is the yearly skin exam's window (due 2023-03-02, its period runs to 2024-02-23, so it is overdue on
    the enrollment date and notified)."""
    record = treated("2020-03-02")
    first = next_check(record, frozenset(), US_PROTOCOL)
    assert first == D("2023-02-23")
    owed = notices_due(record, D("2026-06-01"), frozenset(), US_PROTOCOL)
    assert owed  # what escalated after enrollment is owed once
    assert all(n.due_date is not None and n.due_date >= D("2023-03-02") for n in owed)
    assert "p1#occurrence#cbc#43#missed" not in {n.key for n in owed}  # due 2023-10-02, period ended 2023-10-26


def _with_lab_findings(record: PatientRecord, *results: Result) -> PatientRecord:
    for one in results:
        record, _ = add_result(record, one, US_PROTOCOL)
    return record


def test_a_finding_is_owed_once_from_its_result_date_with_its_severity_and_id() -> None:
    low = lab(ResultItem.CBC, "2024-03-01", analyte("platelets", 15.0), rid="r1")
    record = _with_lab_findings(treated("2024-01-15"), low)
    key = finding_key("p1", "r1:platelets_below_100")
    assert key == "p1#finding#r1:platelets_below_100"
    assert key not in keys(record, D("2024-02-29"))
    owed = [n for n in notices_due(record, D("2024-03-01"), frozenset(), US_PROTOCOL) if n.kind == "finding"]
    assert [n.to_digest_item() for n in owed] == [
        {
            "patient_id": "p1",
            "kind": "finding",
            "code": "platelets_below_100",
            "date": "2024-03-01",
            "severity": "critical",
            "finding_id": "r1:platelets_below_100",
            "alerted": True,  # critical and not history: alerted when stored (DESIGN 7)
        }
    ]
    assert key not in keys(record, D("2024-03-02"), frozenset({key}))
    assert next_check(record, frozenset(), US_PROTOCOL, after=D("2024-02-29")) == D("2024-03-01")


def test_only_current_critical_findings_are_marked_alerted_and_history_is_not_owed() -> None:
    record = _with_lab_findings(
        treated("2024-01-15"),
        lab(ResultItem.CBC, "2024-03-01", analyte("platelets", 120.0), rid="major"),
        lab(ResultItem.CBC, "2024-03-02", analyte("platelets", 15.0), rid="now"),
        lab(ResultItem.CBC, "2023-01-01", analyte("platelets", 15.0), rid="old"),  # history: before enrollment
    )
    owed = {n.finding_id: n.alerted for n in notices_due(record, D("2024-03-02"), frozenset(), US_PROTOCOL)}
    assert owed["major:platelets_below_range"] is False
    assert owed["now:platelets_below_100"] is True
    assert "old:platelets_below_100" not in owed  # DESIGN 8: stored and shown, never notified


def test_acknowledged_findings_are_not_news() -> None:
    record = _with_lab_findings(treated("2024-01-15"), lab(ResultItem.CBC, "2024-03-01", analyte("platelets", 15.0)))
    results = tuple(
        replace(r, findings=tuple(replace(f, acknowledged=True) for f in r.findings)) for r in record.results
    )
    quiet = replace(record, results=results)
    assert [n for n in notices_due(quiet, D("2024-03-01"), frozenset(), US_PROTOCOL) if n.kind == "finding"] == []


def test_pre_treatment_findings_are_owed_without_infusions() -> None:
    bare = PatientRecord(profile())
    record = _with_lab_findings(bare, lab(ResultItem.LIVER, "2023-12-01", analyte("alt", 200.0), rid="l1"))
    assert next_check(record, frozenset(), US_PROTOCOL) == D("2023-12-01")
    owed = notices_due(record, D("2023-12-05"), frozenset(), US_PROTOCOL)
    assert [(n.kind, n.code, n.severity) for n in owed] == [("finding", "transaminases_above_3x_uln", "major")]
    sent = frozenset(n.key for n in owed)
    assert next_check(record, sent, US_PROTOCOL, after=D("2023-12-05")) is None
    assert next_check(bare, frozenset(), US_PROTOCOL) is None


def test_daily_sweeps_send_each_finding_once_and_next_check_predicts_them() -> None:
    record = _with_lab_findings(
        treated("2024-01-15"),
        lab(ResultItem.CBC, "2024-02-20", analyte("platelets", 120.0), rid="a"),
        lab(ResultItem.URINALYSIS, "2024-03-03", analyte("urine_rbc", 9.0), rid="b"),
    )
    sent: frozenset[str] = frozenset()
    day = D("2024-02-01")
    predicted = next_check(record, sent, US_PROTOCOL, after=day - timedelta(days=1))
    seen: list[str] = []
    for _ in range(60):
        owed = notices_due(record, day, sent, US_PROTOCOL)
        assert (predicted == day) is bool(owed)
        seen += [n.key for n in owed if n.kind == "finding"]
        sent |= frozenset(n.key for n in owed)
        predicted = next_check(record, sent, US_PROTOCOL, after=day)
        day += timedelta(days=1)
    assert seen == ["p1#finding#a:platelets_below_range", "p1#finding#b:hematuria"]


def test_acknowledgements_settle_a_deviation_and_an_occurrences_escalations() -> None:
    """DESIGN 7: an acknowledged deviation is not owed again; an acknowledged occurrence escalates no further (its
    overdue and missed notices count as sent, its due notice is untouched); findings are settled by their flag."""
    from lemtrada.regimen import deviation_key, occurrence_key, settled_keys

    acknowledged = [("deviation", "2026-03-02:dose_not_12mg"), ("occurrence", "cbc:4"), ("finding", "r1:hematuria")]
    settled = settled_keys("p1", {"p1#x"}, acknowledged)
    assert settled == {
        "p1#x",
        deviation_key("p1", "dose_not_12mg", date(2026, 3, 2)),
        occurrence_key("p1", "cbc", 4, "overdue"),
        occurrence_key("p1", "cbc", 4, "missed"),
    }
    assert occurrence_key("p1", "cbc", 4, "due") not in settled
