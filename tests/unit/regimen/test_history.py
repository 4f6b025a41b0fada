"""DESIGN 8 "History is not news": the predicates at their boundaries."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from lemtrada.regimen.history import is_history, milestone_is_history, occurrence_is_history

ENROLLED = date(2026, 11, 1)


@pytest.mark.parametrize(
    ("fact", "history"),
    [
        (date(2026, 10, 1), True),  # 31 days before enrollment
        (date(2026, 10, 2), False),  # exactly 30 days before: current
        (ENROLLED, False),
        (date(2026, 12, 1), False),
    ],
)
def test_a_fact_is_history_only_more_than_30_days_before_enrollment(fact: date, history: bool) -> None:
    assert is_history(fact, ENROLLED) is history


@pytest.mark.parametrize(
    ("period_ends", "history"),
    [
        (date(2026, 10, 31), True),
        (ENROLLED, True),  # exclusive end: the period's last day was the day before enrollment
        (date(2026, 11, 2), False),  # the enrollment date is the period's last day: due or overdue, notified
    ],
)
def test_an_occurrence_is_history_when_its_period_ended_before_enrollment(period_ends: date, history: bool) -> None:
    assert occurrence_is_history(SimpleNamespace(period_ends=period_ends), ENROLLED) is history


@pytest.mark.parametrize(
    ("day", "history"), [(date(2026, 10, 31), True), (ENROLLED, False), (date(2026, 11, 2), False)]
)
def test_a_milestone_is_history_when_dated_before_enrollment(day: date, history: bool) -> None:
    assert milestone_is_history(SimpleNamespace(date=day), ENROLLED) is history
