"""Properties over random histories (the benchmark's synthetic generator, driven by hypothesis)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lemtrada.regimen import US_PROTOCOL, OccurrenceStatus, build_schedule, next_check, notices_due
from lemtrada.regimen.records import PatientRecord

from bench.synthetic import synthetic_record

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RANK = {
    OccurrenceStatus.UPCOMING: 0,
    OccurrenceStatus.DUE: 1,
    OccurrenceStatus.OVERDUE: 2,
    OccurrenceStatus.MISSED: 3,
    OccurrenceStatus.DONE: 4,
}

seeds = st.integers(min_value=0, max_value=2**32)
todays = st.dates(min_value=date(2022, 1, 1), max_value=date(2027, 12, 31))


def record_for(seed: int, today: date) -> PatientRecord:
    return synthetic_record(random.Random(seed), "p", today)


@SETTINGS
@given(seeds, todays, st.integers(min_value=-400, max_value=2500))
def test_occurrences_increase_and_stay_inside_monitoring(seed: int, today: date, shift: int) -> None:
    record = record_for(seed, today)
    schedule = build_schedule(record, today + timedelta(days=shift), US_PROTOCOL)
    last: dict[str, tuple[int, date]] = {}
    for occ in schedule.occurrences:
        assert schedule.monitoring_ends is not None
        assert occ.due_date <= schedule.monitoring_ends
        assert occ.window_opens < occ.due_date < occ.period_ends
        if occ.item in last:
            assert (occ.k, occ.due_date) > last[occ.item]
            assert occ.k == last[occ.item][0] + 1
        last[occ.item] = (occ.k, occ.due_date)
    used = [o.satisfied_by for o in schedule.occurrences if o.satisfied_by is not None]
    assert len(used) == len(set(used))  # a result satisfies at most one occurrence


@SETTINGS
@given(seeds, todays, st.lists(st.integers(min_value=0, max_value=2500), min_size=2, max_size=6))
def test_status_only_moves_forward(seed: int, today: date, offsets: list[int]) -> None:
    record = record_for(seed, today)
    start = today - timedelta(days=2200)
    previous: dict[tuple[str, int], OccurrenceStatus] = {}
    reached: set[tuple[str, date]] = set()
    for offset in sorted(offsets):
        schedule = build_schedule(record, start + timedelta(days=offset), US_PROTOCOL)
        for occ in schedule.occurrences:
            key = (occ.item.value, occ.k)
            if key in previous:
                assert RANK[occ.status] >= RANK[previous[key]]
                if previous[key] == OccurrenceStatus.DONE:
                    assert occ.status == OccurrenceStatus.DONE
            previous[key] = occ.status
        now_reached = {(m.code, m.date) for m in schedule.milestones if m.reached}
        assert reached <= now_reached
        reached = now_reached


@SETTINGS
@given(seeds, todays)
def test_a_new_course_never_removes_a_past_occurrence(seed: int, today: date) -> None:
    record = record_for(seed, today)
    courses = sorted({i.course for i in record.infusions})
    if len(courses) < 2:
        return
    shorter = replace(record, infusions=tuple(i for i in record.infusions if i.course < courses[-1]))
    far = today + timedelta(days=3000)
    before = {(o.item, o.k, o.due_date) for o in build_schedule(shorter, far, US_PROTOCOL).occurrences}
    after = {(o.item, o.k, o.due_date) for o in build_schedule(record, far, US_PROTOCOL).occurrences}
    assert before <= after


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds, todays, st.integers(min_value=-2200, max_value=0), st.integers(min_value=20, max_value=90))
def test_daily_sweeps_never_repeat_and_next_check_is_exact(seed: int, today: date, back: int, days: int) -> None:
    """Feed each day's keys into ``sent``: no key twice, and next_check(after=d-1) is d exactly when d owes."""
    record = record_for(seed, today)
    first = today + timedelta(days=back)
    sent: frozenset[str] = frozenset()
    predicted = next_check(record, sent, US_PROTOCOL, after=first - timedelta(days=1))
    previous = {
        (o.item, o.k): o.status for o in build_schedule(record, first - timedelta(days=1), US_PROTOCOL).occurrences
    }
    for offset in range(days):
        day = first + timedelta(days=offset)
        owed = notices_due(record, day, sent, US_PROTOCOL)
        owed_keys = [n.key for n in owed]
        assert len(owed_keys) == len(set(owed_keys))
        assert not set(owed_keys) & sent
        if owed:
            assert predicted == day
        else:
            assert predicted is None or predicted > day
        schedule = build_schedule(record, day, US_PROTOCOL)
        escalated = [
            o
            for o in schedule.occurrences
            if o.status in (OccurrenceStatus.DUE, OccurrenceStatus.OVERDUE, OccurrenceStatus.MISSED)
            and previous.get((o.item, o.k)) != o.status
        ]
        withdrawn = record.profile.withdrawn_on is not None and record.profile.withdrawn_on <= day
        if escalated and not withdrawn:
            assert predicted is not None
            assert predicted <= day  # never later than a status change
        previous = {(o.item, o.k): o.status for o in schedule.occurrences}
        sent = sent | frozenset(owed_keys)
        predicted = next_check(record, sent, US_PROTOCOL, after=day)


@SETTINGS
@given(seeds, todays)
def test_next_check_from_nothing_is_the_first_owed_day(seed: int, today: date) -> None:
    record = record_for(seed, today)
    first = next_check(record, frozenset(), US_PROTOCOL)
    if first is None:
        assert not record.infusions or record.profile.withdrawn_on is not None
        return
    assert notices_due(record, first, frozenset(), US_PROTOCOL)
    assert not notices_due(record, first - timedelta(days=1), frozenset(), US_PROTOCOL)
    t0 = min(i.date for i in record.infusions)
    assert first >= t0
    for day in range(0, (first - t0).days, 3):
        assert not notices_due(record, t0 + timedelta(days=day), frozenset(), US_PROTOCOL)
