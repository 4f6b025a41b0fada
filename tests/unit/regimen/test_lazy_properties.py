"""The lazy engine answers exactly what the full computation answers (regimen.lazy against reference_engine).

Random histories from the benchmark's generator, asked on random days from before treatment to years after
monitoring ends, with random parts of what was owed already sent: ``notices_due`` and ``next_check`` must
equal the round-1 walk over every occurrence, and the occurrences owed must equal ``build_schedule``'s.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from typing import cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lemtrada.regimen import EU_PROTOCOL, US_PROTOCOL, OccurrenceStatus, build_schedule, next_check, notices_due
from lemtrada.regimen.courses import infusions_until
from lemtrada.regimen.dates import ONE_DAY
from lemtrada.regimen.lazy import occurrence_windows, owed_occurrences
from lemtrada.regimen.notices import _Earliest, occurrence_key
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.records import PatientRecord, Result, ResultItem

from bench.synthetic import synthetic_record
from tests.unit.regimen.reference_engine import _occurrence_windows, full_next_check, full_notices_due

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OWED = (OccurrenceStatus.DUE, OccurrenceStatus.OVERDUE, OccurrenceStatus.MISSED)

seeds = st.integers(min_value=0, max_value=2**32)
todays = st.dates(min_value=date(2021, 1, 1), max_value=date(2027, 12, 31))
shifts = st.integers(min_value=-2600, max_value=900)
protocols = st.sampled_from((US_PROTOCOL, EU_PROTOCOL))


def record_for(seed: int, today: date, protocol: Protocol, shuffle: bool) -> PatientRecord:
    """A synthetic history; ``shuffle`` stores its results and infusions out of date order."""
    record = synthetic_record(random.Random(seed), "p", today, protocol)
    if shuffle:
        rng = random.Random(seed + 1)
        results = list(record.results)
        rng.shuffle(results)
        infusions = list(record.infusions)
        rng.shuffle(infusions)
        record = replace(record, results=tuple(results), infusions=tuple(infusions))
    return record


def sent_for(record: PatientRecord, day: date, protocol: Protocol, keep: float, seed: int) -> frozenset[str]:
    """A random part of what was owed the day before and on ``day`` (nothing sent to everything sent)."""
    owed = [n.key for d in (day - ONE_DAY, day) for n in full_notices_due(record, d, frozenset(), protocol)]
    rng = random.Random(seed)
    return frozenset(key for key in owed if rng.random() < keep)


@SETTINGS
@given(seeds, todays, shifts, st.floats(min_value=0, max_value=1), protocols, st.booleans())
def test_the_sweeps_question_equals_the_full_computation(  # noqa: PLR0917 - hypothesis draws
    seed: int, today: date, shift: int, keep: float, protocol: Protocol, shuffle: bool
) -> None:
    record = record_for(seed, today, protocol, shuffle)
    day = today + timedelta(days=shift)
    sent = sent_for(record, day, protocol, keep, seed)
    owed = notices_due(record, day, sent, protocol)
    assert owed == full_notices_due(record, day, sent, protocol)
    after = sent | {n.key for n in owed}
    assert next_check(record, after, protocol, after=day) == full_next_check(record, after, protocol, after=day)
    assert next_check(record, sent, protocol, after=day) == full_next_check(record, sent, protocol, after=day)
    assert next_check(record, sent, protocol) == full_next_check(record, sent, protocol)


@SETTINGS
@given(seeds, todays, shifts, st.integers(min_value=-400, max_value=2600), protocols)
def test_owed_occurrences_are_build_schedules_with_history_left_out(
    seed: int, today: date, shift: int, ended: int, protocol: Protocol
) -> None:
    """``ended_by`` leaves out every period over by then, and nothing else."""
    record = record_for(seed, today, protocol, shuffle=False)
    day = today + timedelta(days=shift)
    infusions = infusions_until(record, day)
    if not infusions:
        return
    ended_by = infusions[0].date + timedelta(days=ended)
    schedule = build_schedule(record, day, protocol)
    order = {spec.item: index for index, spec in enumerate(protocol.monitoring)}
    expected = sorted(
        (o for o in schedule.occurrences if o.status in OWED and o.period_ends > ended_by),
        key=lambda o: (o.due_date, order[o.item]),
    )
    got = owed_occurrences(record, infusions, day, frozenset(), protocol, ended_by=ended_by)
    assert got == [
        (o.due_date, o.item.value, o.k, o.status.value, occurrence_key("p", o.item.value, o.k, o.status.value))
        for o in expected
    ]


@SETTINGS
@given(seeds, todays, shifts, st.integers(min_value=-400, max_value=2600), st.floats(min_value=0, max_value=1))
def test_occurrence_windows_with_history_left_out_equal_the_full_walk(
    seed: int, today: date, shift: int, ended: int, keep: float
) -> None:
    record = record_for(seed, today, US_PROTOCOL, shuffle=False)
    if not record.infusions:
        return
    day = today + timedelta(days=shift)
    sent = sent_for(record, day, US_PROTOCOL, keep, seed)
    infusions = infusions_until(record, date.max)
    ended_by = infusions[0].date + timedelta(days=ended)
    lazy, full = _Earliest(day + ONE_DAY, date.max), _Earliest(day + ONE_DAY, date.max)
    occurrence_windows(record, infusions, sent, US_PROTOCOL, lazy, ended_by=ended_by)
    grouped: dict[ResultItem, list[Result]] = {}
    for result in sorted(record.results, key=lambda r: (r.date, r.result_id)):
        grouped.setdefault(result.item, []).append(result)
    _occurrence_windows(record, infusions, grouped, sent, protocol=US_PROTOCOL, earliest=full, ended_by=ended_by)
    assert lazy.best == full.best


def test_a_record_asked_again_after_a_new_result_is_read_afresh() -> None:
    """The per-record memo is by identity: a new record (a result added) is never answered from the old one."""
    record = record_for(3, date(2026, 6, 1), US_PROTOCOL, shuffle=False)
    day = date(2026, 6, 1)
    owed = notices_due(record, day, frozenset(), US_PROTOCOL)
    missed = next(n for n in owed if n.state == "missed")
    assert missed.due_date is not None
    filled = replace(
        record, results=(*record.results, Result("late", ResultItem(missed.code), missed.due_date, None, None, None))
    )
    again = notices_due(filled, day, frozenset(), US_PROTOCOL)
    assert missed.key not in {n.key for n in again}
    assert again == full_notices_due(filled, day, frozenset(), US_PROTOCOL)
    assert notices_due(record, day, frozenset(), US_PROTOCOL) == owed


def test_results_of_items_outside_result_item_are_grouped_as_before() -> None:
    """A result whose item is a plain string (equal to a member's value, or of no member) is grouped like any
    other: the fast pass falls back to grouping whatever the record holds, and the answers stay the oracle's."""
    record = record_for(5, date(2026, 6, 1), US_PROTOCOL, shuffle=False)
    day = date(2026, 6, 1)
    odd = (
        Result("plain", cast(ResultItem, "cbc"), day, None, None, None),
        Result("other", cast(ResultItem, "not_an_item"), day, None, None, None),
    )
    strange = replace(record, results=(*record.results, *odd))
    owed = notices_due(strange, day, frozenset(), US_PROTOCOL)
    assert owed == full_notices_due(strange, day, frozenset(), US_PROTOCOL)
    after = frozenset(n.key for n in owed)
    assert next_check(strange, after, US_PROTOCOL, after=day) == full_next_check(strange, after, US_PROTOCOL, after=day)
