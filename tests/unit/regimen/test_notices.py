from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from lemtrada.regimen import US_PROTOCOL, Notice, next_check, notices_due
from lemtrada.regimen.records import PatientRecord, PregnancyEpisode, ResultItem, Severity

from .helpers import D, profile, result, treated, with_results


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


def test_late_entered_record_is_due_in_the_past() -> None:
    record = PatientRecord(profile())
    record = treated("2020-03-02")
    first = next_check(record, frozenset(), US_PROTOCOL)
    assert first == D("2020-03-26")  # first monthly window (2020-04-02 - 7 days), years ago
    assert keys(record, D("2026-06-01"))  # missed occurrences are owed once
