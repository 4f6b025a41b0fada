"""Sets of days as sorted, disjoint, inclusive intervals: how readiness finds the earliest start."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from lemtrada.regimen.dates import ONE_DAY

Span = tuple[date, date]
Spans = tuple[Span, ...]

EVERY_DAY: Spans = ((date.min, date.max),)
NO_DAY: Spans = ()


def normalize(spans: Iterable[Span]) -> Spans:
    """Sort and merge overlapping or touching intervals; drop empty ones."""
    out: list[Span] = []
    for first, last in sorted(s for s in spans if s[0] <= s[1]):
        if out and (out[-1][1] == date.max or first <= out[-1][1] + ONE_DAY):
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return tuple(out)


def intersect(a: Spans, b: Spans) -> Spans:
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        first = max(a[i][0], b[j][0])
        last = min(a[i][1], b[j][1])
        if first <= last:
            out.append((first, last))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def contains(spans: Spans, day: date) -> bool:
    return any(first <= day <= last for first, last in spans)


def first_on_or_after(spans: Spans, day: date) -> date | None:
    for first, last in spans:
        if last >= day:
            return max(first, day)
    return None


def day_before(day: date) -> date:
    return day if day == date.min else day - ONE_DAY


def day_after(day: date) -> date:
    return day if day == date.max else day + ONE_DAY
