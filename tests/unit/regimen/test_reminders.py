"""Patient reminders (DESIGN 9): what one local date owes the phone, at every boundary, and properties.

Course 1 from 2024-01-15 (last infusion 2024-01-19): monthly D_1 = 2024-02-15, window opens 2024-02-08, due
through 2024-02-22, overdue from 2024-02-23 until 2024-03-07; M = 2028-01-19, monitoring_complete 2028-01-20.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lemtrada.regimen import EU_PROTOCOL, US_PROTOCOL, notices_due
from lemtrada.regimen.records import PatientRecord, ResultItem
from lemtrada.regimen.reminders import push_for, reminders_due, warning_key

from bench.synthetic import synthetic_record

from .helpers import D, enrollment, result, treated, with_results

MONTHLY = ("cbc", "creatinine", "liver", "urinalysis")


def kinds(record: PatientRecord, on: str, sent: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    return [(r.kind, r.item or r.date.isoformat()) for r in reminders_due(record, D(on), sent, US_PROTOCOL)]


@pytest.mark.parametrize(
    ("on", "kind", "body"),
    [
        ("2024-01-19", None, None),  # last infusion of course 1: the warning is for the day after
        ("2024-01-20", "infusion_warning", "Important safety information after your treatment. Open the app."),
        ("2024-01-22", "infusion_warning", "Important safety information after your treatment. Open the app."),
        ("2024-01-23", None, None),  # two days of catch-up, then stale
        ("2024-02-07", None, None),  # the day before the window opens
        ("2024-02-08", "due", "You have monitoring tests due by 2024-02-15. Open the app."),
        ("2024-02-22", "due", "You have monitoring tests due by 2024-02-15. Open the app."),
        ("2024-02-23", "overdue", "Your monitoring tests due on 2024-02-15 are overdue. Open the app."),
        ("2024-03-07", "overdue", "Your monitoring tests due on 2024-02-15 are overdue. Open the app."),
        ("2028-01-20", "monitoring_complete", "Your monitoring schedule is complete. Open the app."),
        ("2028-02-19", "monitoring_complete", "Your monitoring schedule is complete. Open the app."),
        ("2028-02-20", None, None),  # completed: nothing any more
    ],
)
def test_the_push_of_each_boundary_day(on: str, kind: str | None, body: str | None) -> None:
    push = push_for(treated("2024-01-15"), D(on), frozenset(), US_PROTOCOL)
    if kind is None:
        assert push is None
        return
    assert push is not None
    assert (push.kind, push.body, push.title) == (kind, body, "Reminder")
    assert push.data["kind"] == kind
    assert push.data["date"] == push.date.isoformat()


def test_data_names_the_item_codes_and_the_lock_screen_none() -> None:
    push = push_for(treated("2024-01-15"), D("2024-02-08"), frozenset(), US_PROTOCOL)
    assert push is not None
    assert push.data == {"kind": "due", "date": "2024-02-15", "items": list(MONTHLY), "kinds": ["due"]}
    assert push.keys == tuple(f"p1#occurrence#{i}#1#due" for i in ("cbc", "creatinine", "urinalysis", "liver"))


def test_each_key_once_and_escalation() -> None:
    record = treated("2024-01-15")
    first = push_for(record, D("2024-02-08"), frozenset(), US_PROTOCOL)
    assert first is not None
    sent = frozenset(first.keys)
    assert push_for(record, D("2024-02-08"), sent, US_PROTOCOL) is None
    assert push_for(record, D("2024-02-22"), sent, US_PROTOCOL) is None
    overdue = push_for(record, D("2024-02-23"), sent, US_PROTOCOL)
    assert overdue is not None
    assert overdue.kind == "overdue"


def test_a_result_ends_the_reminders_of_its_occurrence() -> None:
    record = with_results(treated("2024-01-15"), *(result(ResultItem(i), "2024-02-10") for i in MONTHLY))
    assert kinds(record, "2024-02-09") == [("due", i) for i in ("cbc", "creatinine", "urinalysis", "liver")]
    assert kinds(record, "2024-02-10") == []
    assert kinds(record, "2024-02-23") == []


def test_several_kinds_in_one_push_the_first_kind_leads() -> None:
    # course 2 ends 2025-02-03: on 2025-02-04 the warning is owed and the annual exams (D 2025-01-15)
    # are overdue; one push, the warning's text, every kind and item code in data.
    record = treated("2024-01-15", courses=("2025-02-01",))
    push = push_for(record, D("2025-02-04"), frozenset(), US_PROTOCOL)
    assert push is not None
    assert (push.kind, push.date, push.kinds) == ("infusion_warning", D("2025-02-03"), ("infusion_warning", "overdue"))
    assert push.items == ("hpv_screening", "skin_exam")  # the monthly ones were done by the pre-course labs
    thyroid = push_for(record, D("2024-04-08"), frozenset(), US_PROTOCOL)
    assert thyroid is not None
    assert thyroid.kinds == ("due",)
    assert "thyroid" in thyroid.items


def test_warning_after_every_course_and_once() -> None:
    record = treated("2024-01-15", courses=("2025-02-01",))
    assert ("infusion_warning", "2025-02-03") in kinds(record, "2025-02-04")
    assert kinds(record, "2025-02-04", frozenset({warning_key("p1", D("2025-02-03"))})) == [
        k for k in kinds(record, "2025-02-04") if k[0] != "infusion_warning"
    ]
    assert all(k[0] != "infusion_warning" for k in kinds(record, "2025-02-03"))  # course 2 day 3 is its last


@pytest.mark.parametrize(("withdrawn", "on"), [("2024-02-01", "2024-02-08"), ("2024-01-20", "2024-01-20")])
def test_never_for_withdrawn(withdrawn: str, on: str) -> None:
    record = treated("2024-01-15")
    record = replace(record, profile=replace(record.profile, withdrawn_on=D(withdrawn)))
    assert reminders_due(record, D(on), frozenset(), US_PROTOCOL) == ()


def test_never_with_reminders_disabled() -> None:
    assert push_for(treated("2024-01-15"), D("2024-02-08"), frozenset(), US_PROTOCOL, enabled=False) is None


def test_never_for_history() -> None:
    record = treated("2024-01-15")
    late = replace(record.profile, enrollment=enrollment(enrolled_on=D("2024-03-20")))
    record = replace(record, profile=late)
    assert kinds(record, "2024-01-20") == []  # the warning's day is before enrollment
    on = D("2024-03-20")  # February's occurrences were missed before enrollment: no reminder
    assert all(r.key.split("#")[3] == "2" for r in reminders_due(record, on, frozenset(), US_PROTOCOL))


def test_never_before_treatment() -> None:
    record = PatientRecord(treated().profile)
    assert push_for(record, D("2024-02-08"), frozenset(), US_PROTOCOL) is None


# ---- properties ---------------------------------------------------------------------------------------------

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_CONDITIONS = re.compile(
    r"cbc|creatinine|urin|liver|thyroid|skin|hpv|stroke|lemtrada|alemtuzumab|sclerosis|\bms\b|blood|cancer",
    re.IGNORECASE,
)


@SETTINGS
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    today=st.dates(min_value=date(2022, 1, 1), max_value=date(2027, 12, 31)),
    shift=st.integers(min_value=-400, max_value=400),
    protocol=st.sampled_from((US_PROTOCOL, EU_PROTOCOL)),
)
def test_same_rules_as_notices_one_push_per_day_no_condition_named(
    seed: int, today: date, shift: int, protocol: object
) -> None:
    """Over a month of days: an occurrence reminder is a notice the clinic is owed in the same state (one rule
    set); the day's push carries every reminder owed; once its keys are marked nothing is owed again that day
    and no key is ever pushed twice; the lock screen names no test and no condition."""
    assert protocol is US_PROTOCOL or protocol is EU_PROTOCOL
    record = synthetic_record(random.Random(seed), "p", today, protocol)
    sent: frozenset[str] = frozenset()
    pushed: list[str] = []
    start = today + timedelta(days=shift)
    for offset in range(31):
        on = start + timedelta(days=offset)
        owed = reminders_due(record, on, sent, protocol)
        notices = {n.key for n in notices_due(record, on, frozenset(), protocol)}
        for reminder in owed:
            if reminder.kind in {"due", "overdue"}:
                assert reminder.key in notices
        push = push_for(record, on, sent, protocol)
        assert (push is None) == (not owed)
        if push is None:
            continue
        assert set(push.keys) == {r.key for r in owed}
        assert not _CONDITIONS.search(push.body + push.title), push.body
        pushed.extend(push.keys)
        sent |= frozenset(push.keys)
        assert push_for(record, on, sent, protocol) is None
    assert len(pushed) == len(set(pushed))
