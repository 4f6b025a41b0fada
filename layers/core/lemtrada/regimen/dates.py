"""Calendar arithmetic shared by every rule.

Months are always added to the anchor in one step (never chained), and a day that does not exist in the
target month is clamped to its last day: that is exactly what ``relativedelta`` does.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from dateutil.relativedelta import relativedelta

ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=1 << 16)
def add_months(anchor: date, months: int) -> date:
    """``anchor + months`` calendar months, clamped to month end (cached: schedules repeat the same sums)."""
    return anchor + relativedelta(months=months)


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
