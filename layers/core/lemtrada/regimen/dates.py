"""Calendar arithmetic shared by every rule.

Months are always added to the anchor in one step (never chained), and a day that does not exist in the
target month is clamped to its last day: that is exactly what ``relativedelta`` does.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from operator import sub

from dateutil.relativedelta import relativedelta

ONE_DAY = timedelta(days=1)


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


@lru_cache(maxsize=1 << 16)
def add_months(anchor: date, months: int) -> date:
    """``anchor + months`` calendar months, clamped to month end: ``anchor + relativedelta(months=months)``
    computed directly (the engine's hot path; tests/unit/regimen/test_dates.py holds the two equal). Cached:
    schedules repeat the same sums."""
    total = anchor.month - 1 + months
    year = anchor.year + total // 12
    month = total % 12 + 1
    day = anchor.day
    if day > 28:  # every month has 28 days
        day = min(day, days_in_month(year, month))
    return date(year, month, day)


_TABLE_YEAR = 1900
_YEARS = [year for year in range(_TABLE_YEAR, 2200) for _ in range(12)]
_MONTHS = list(range(1, 13)) * (2200 - _TABLE_YEAR)
_DIM = [days_in_month(year, month) for year, month in zip(_YEARS, _MONTHS, strict=True)]


class MonthGrid:
    """``add_months(t0, m)`` and that day minus ``lead_days`` for m = 0, 1, 2, ..., grown on demand.

    Every item's D_k and O_k is one of these (D_k = T0 + (first_due + (k - 1) * cadence) months), so one
    grid per T0 serves all of a patient's items, and bisecting its ``opens`` finds the month of any date's
    period. Kept per (T0, lead) by ``month_grid``: mutable only by growing, so what it holds never changes."""

    __slots__ = ("dues", "lead", "opens", "t0")

    def __init__(self, t0: date, lead_days: int) -> None:
        self.t0 = t0
        self.lead = timedelta(days=lead_days)
        self.dues: list[date] = []
        self.opens: list[date] = []

    def reach(self, month: int) -> None:
        """Make index ``month`` exist (two years at a time: a patient's questions walk forward)."""
        dues = self.dues
        have = len(dues)
        if have > month:
            return
        t0 = self.t0
        upto = month + 24
        start = (t0.year - _TABLE_YEAR) * 12 + t0.month - 1
        low, high = start + have, start + upto + 1
        if low >= 0 and high <= len(_YEARS):  # the month tables: one C-level pass builds every date
            day = t0.day
            days = [day] * (high - low) if day <= 28 else list(map(min, [day] * (high - low), _DIM[low:high]))
            more = list(map(date, _YEARS[low:high], _MONTHS[low:high], days))
        else:
            more = [add_months(t0, m) for m in range(have, upto + 1)]
        dues.extend(more)
        self.opens.extend(map(sub, more, [self.lead] * len(more)))

    def months_through(self, day: date) -> int:
        """The largest m with ``add_months(t0, m) <= day`` (-1 when ``day`` is before T0)."""
        t0 = self.t0
        m = (day.year - t0.year) * 12 + day.month - t0.month
        if m < 0:
            return -1
        return m - 1 if add_months(t0, m) > day else m


@lru_cache(maxsize=1 << 12)
def month_grid(t0: date, lead_days: int) -> MonthGrid:
    return MonthGrid(t0, lead_days)


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


def last_day_within_months(anchor: date, months: int) -> date:
    """The last day ``s`` for which ``s - months`` (clamped) is still on or before ``anchor``.

    ``anchor + months`` is usually that day, but clamping can leave a few more days: with anchor
    2023-02-28 and 12 months, 2024-02-29 - 12 months = 2023-02-28 is still inside the window.
    """
    last = add_months(anchor, months)
    while (last + ONE_DAY) - relativedelta(months=months) <= anchor:
        last += ONE_DAY
    return last


def age_in_years(birth_date: date, on: date) -> int:
    return relativedelta(on, birth_date).years
