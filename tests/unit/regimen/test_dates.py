"""Calendar arithmetic: ``add_months`` is ``relativedelta(months=...)`` computed directly; the month grid agrees."""

from __future__ import annotations

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st
from lemtrada.regimen.dates import MonthGrid, add_months, days_in_month

anchors = st.dates(min_value=date(1850, 1, 1), max_value=date(2400, 12, 31))


@settings(max_examples=2000, deadline=None)
@given(anchors, st.integers(min_value=-1200, max_value=1200))
def test_add_months_is_relativedelta(anchor: date, months: int) -> None:
    assert add_months(anchor, months) == anchor + relativedelta(months=months)


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2023, 3, 31), -1, date(2023, 2, 28)),
        (date(1900, 1, 29), 1, date(1900, 2, 28)),  # 1900 is not a leap year
        (date(2000, 1, 29), 1, date(2000, 2, 29)),  # 2000 is
        (date(2023, 12, 15), 1, date(2024, 1, 15)),
    ],
)
def test_add_months_clamps_to_the_month_end(anchor: date, months: int, expected: date) -> None:
    assert add_months(anchor, months) == expected


def test_days_in_month() -> None:
    assert [days_in_month(2024, m) for m in range(1, 13)] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert days_in_month(2100, 2) == 28


@settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=date(1800, 1, 1), max_value=date(2300, 12, 31)),
    st.integers(min_value=0, max_value=27),
    st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=4),
)
def test_month_grid_holds_t0_plus_m_months_minus_the_lead(t0: date, lead: int, reaches: list[int]) -> None:
    """Grown in steps, inside the month tables or beyond them (before 1900, after 2199), the same dates."""
    grid = MonthGrid(t0, lead)
    for month in reaches:
        grid.reach(month)
    assert len(grid.dues) == len(grid.opens) > max(reaches)
    for m, (due, opens) in enumerate(zip(grid.dues, grid.opens, strict=True)):
        assert due == add_months(t0, m)
        assert (due - opens).days == lead


@settings(max_examples=300, deadline=None)
@given(anchors, anchors)
def test_months_through_is_the_last_month_on_or_before(t0: date, day: date) -> None:
    m = MonthGrid(t0, 7).months_through(day)
    if day < t0:
        assert m == -1
    else:
        assert add_months(t0, m) <= day < add_months(t0, m + 1)
