"""The occurrences the sweep's question needs, without the whole schedule (DESIGN 2.5, 2.6).

``notices_due`` on day D and ``next_check`` after D read about 270 occurrences per patient if every one is
walked from k = 1, yet only three kinds can matter: the occurrence whose period holds D, the next few (the
first day something is owed again), and the past ones with no result (missed, owed until their key is sent).
Periods are contiguous and sorted (O_(k+1) closes period k), so each of those is found by bisection in the
cached slot columns, and which past periods hold a result by bisecting each result's date: no Occurrence
object, no walk, no matching of the whole history. The answers are exactly the full computation's
(tests/unit/regimen/test_lazy_properties.py holds the round-1 walk as the oracle).

A record's results grouped per item (dates only) and its cd4 results are computed once per record object and
kept for the few records asked about last (``notices_due`` then ``next_check`` on the same record is the
sweep's question): records are immutable, and the memo holds the record itself, so an identity never
outlives the object it names.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from operator import gt
from typing import Protocol as Structural

from lemtrada.regimen.dates import ONE_DAY, MonthGrid, add_months, month_grid
from lemtrada.regimen.protocol import MonitoringItem, Protocol
from lemtrada.regimen.readiness import applies_to
from lemtrada.regimen.records import Infusion, PatientRecord, Result, ResultItem
from lemtrada.regimen.schedule import Milestone, cd4_count, milestones_for, slot_dates

Dates = tuple[date, ...]


@dataclass(frozen=True, slots=True)
class ResultIndex:
    """A record's result dates per item (sorted), its cd4 results in date order, its results with findings."""

    dates: dict[ResultItem, list[date]]
    cd4: tuple[Result, ...]
    cd4_dates: Dates
    with_findings: tuple[Result, ...]
    slots: dict[tuple[ResultItem, MonthGrid, int], _Slots]  # one item's periods: see slots_of
    infusions: tuple[Infusion, ...]  # in date order
    infusion_dates: Dates
    milestones: dict[tuple[int, int], tuple[Protocol, date, list[Milestone]]]  # see milestones_since
    cd4_values: dict[int, tuple[Protocol, tuple[float, ...]]]  # per protocol (by identity): see cd4_values


_MEMO_SIZE = 8
_CD4 = ResultItem.CD4
_memo: dict[int, tuple[PatientRecord, ResultIndex]] = {}


def result_index(record: PatientRecord) -> ResultIndex:
    """The record's ``ResultIndex``, built once per record object (see the module's docstring)."""
    hit = _memo.get(id(record))
    if hit is not None and hit[0] is record:
        return hit[1]
    dates: defaultdict[ResultItem, list[date]] = defaultdict(list)
    with_findings: list[Result] = []
    cd4: list[Result] = []
    for result in record.results:
        item = result.item
        dates[item].append(result.date)
        if item == _CD4:
            cd4.append(result)
        if result.findings:
            with_findings.append(result)
    for column in dates.values():
        column.sort()  # linear on the stored (date-ordered) results
    cd4.sort(key=_by_date)
    infusions = record.infusions
    infusion_dates = tuple(i.date for i in infusions)
    if any(map(gt, infusion_dates, infusion_dates[1:])):  # stored in date order: only a check
        infusions = tuple(sorted(infusions, key=_by_date))
        infusion_dates = tuple(i.date for i in infusions)
    index = ResultIndex(
        dates, tuple(cd4), tuple(r.date for r in cd4), tuple(with_findings), {}, infusions, infusion_dates, {}, {}
    )
    if len(_memo) >= _MEMO_SIZE:
        del _memo[next(iter(_memo))]
    _memo[id(record)] = (record, index)
    return index


def clear_caches() -> None:
    """Forget every memo and cache of the engine's calendar (benchmarks measure a night's fresh records)."""
    _memo.clear()
    month_grid.cache_clear()
    add_months.cache_clear()
    slot_dates.cache_clear()


def _by_date(fact: Result | Infusion) -> date:
    return fact.date


def sorted_infusions(record: PatientRecord, last: date | None = None) -> tuple[Infusion, ...]:
    """The record's infusions dated on or before ``last`` (all when None), in date order (ties in stored order:
    ``courses.infusions_until``'s answer)."""
    index = result_index(record)
    if last is None:
        return index.infusions
    return index.infusions[: bisect_right(index.infusion_dates, last)]


def cd4_values(record: PatientRecord, protocol: Protocol) -> tuple[float, ...]:
    """Each cd4 result's count (``schedule.cd4_count``), in ``cd4_until``'s order, computed once per record."""
    memo = result_index(record).cd4_values
    hit = memo.get(id(protocol))
    if hit is not None and hit[0] is protocol:
        return hit[1]
    values = tuple(cd4_count(r, protocol) for r in result_index(record).cd4)
    memo[id(protocol)] = (protocol, values)
    return values


def milestones_since(
    record: PatientRecord, infusions: Sequence[Infusion], protocol: Protocol, since: date | None
) -> list[Milestone]:
    """``milestones_for(profile, infusions, every cd4 result, date.max, protocol, since=since)``: every milestone
    dated on or after ``since`` (``reached`` True: callers compare dates), ``infusions`` a date-order prefix of the
    record's (``sorted_infusions``). ``notices_due`` and ``next_check`` ask it one day apart, so the answer is kept
    with the record and a later ``since`` only filters it (``since`` drops milestones by date, nothing else).

    Reading every cd4 result instead of those up to the day asked changes no milestone dated on or before that day
    (the first qualifying cd4 after a course is the same whenever one is on or before it), which is all
    ``notices_due`` reads."""
    since = date.min if since is None else since
    index = result_index(record)
    key = (len(infusions), id(protocol))
    hit = index.milestones.get(key)
    if hit is not None and hit[0] is protocol and hit[1] <= since:
        if hit[1] == since:
            return hit[2]
        return [m for m in hit[2] if m.date >= since]
    found = milestones_for(
        record.profile, infusions, index.cd4, date.max, protocol, since=since, cd4_values=cd4_values(record, protocol)
    )
    index.milestones[key] = (protocol, since, found)
    return found


def cd4_until(record: PatientRecord, last: date | None = None) -> tuple[Result, ...]:
    """The record's cd4 results dated on or before ``last`` (all when None), in date order."""
    index = result_index(record)
    if last is None:
        return index.cd4
    return index.cd4[: bisect_right(index.cd4_dates, last)]


def results_with_findings(record: PatientRecord) -> tuple[Result, ...]:
    """The record's results that carry findings, in the record's order."""
    return result_index(record).with_findings


_NONE: list[date] = []


class _Slots:
    """One item's occurrences on a patient's month grid: occurrence k is month m_k = first + (k - 1) * cadence,
    D_k = dues[m_k], O_k = opens[m_k] and its period closes on opens[m_k + cadence]; ``count`` of them exist.
    The grid is grown only as far as the days asked about need (``cover``), not to the end of monitoring."""

    __slots__ = ("_empty", "_upto", "cadence", "count", "dues", "first", "grid", "limit", "opens")

    def __init__(self, grid: MonthGrid, spec: MonitoringItem, span: int) -> None:
        first, cadence = spec.first_due_months, spec.cadence_months
        self.grid, self.first, self.cadence = grid, first, cadence
        self.count = 0 if span < first else (span - first) // cadence + 1
        self.limit = first + self.count * cadence  # the month whose opening closes the last period
        self.dues, self.opens = grid.dues, grid.opens  # grown in place by ``grid.reach``
        self._upto = 0
        self._empty: list[int] = []

    def bound(self, month: int) -> int:
        """``month`` (see ``bound_after``) cut at this item's last closing month, the grid grown that far."""
        high = min(self.limit, month)
        if high >= len(self.opens):
            self.grid.reach(high)
        return high

    def closed_by(self, day: date, high: int) -> int:
        """How many periods closed on or before ``day`` (O_(k+1) <= day); ``high`` from ``bound``."""
        month = bisect_right(self.opens, day, 0, high + 1) - 1
        return min(self.count, max(0, (month - self.first) // self.cadence))

    def empty_through(self, ds: Sequence[date], upto: int) -> list[int]:
        """Ascending k, at least every k <= ``upto`` (a closed period), whose period holds none of the item's result
        dates ``ds``. Whether a period holds a result does not depend on the day asked, so ``notices_due`` and
        ``next_check`` share one answer; callers slice it to the periods they read."""
        if upto > self._upto:
            self._empty, self._upto = self._compute(ds, upto), upto
        return self._empty

    def _compute(self, ds: Sequence[date], upto: int) -> list[int]:
        first, cadence, opens = self.first, self.cadence, self.opens
        stop = first + upto * cadence  # its opening closes period ``upto``
        inside = ds[bisect_left(ds, opens[first]) : bisect_left(ds, opens[stop])]
        # bisect_right(opens, d) - 1 is the month holding d; its occurrence is (month - first) // cadence + 1
        months = set(map(bisect_right, [opens] * len(inside), inside))
        if cadence == 1:
            if len(months) == upto:
                return []  # the common case: every period holds a result
            return [month - first for month in sorted(set(range(first + 1, stop + 1)) - months)]
        held = {(month - 1 - first) // cadence + 1 for month in months}
        return [k for k in range(1, upto + 1) if k not in held]


def bound_after(t0: date, day: date) -> int:
    """A month index m with O_m > ``day`` for every lead under 28 days: ``day``'s month + 2 (0 before T0)."""
    return max(0, (day.year - t0.year) * 12 + day.month - t0.month + 2)


def _slots_of(index: ResultIndex, grid: MonthGrid, spec: MonitoringItem, span: int) -> _Slots:
    """The item's ``_Slots`` for this record, month grid and span, kept with the record's index."""
    key = (spec.item, grid, span)
    found = index.slots.get(key)
    if found is None:
        found = index.slots[key] = _Slots(grid, spec, span)
    return found


OwedOccurrence = tuple[date, str, int, str, str]
"""(due date, item, k, state, key) of one owed occurrence."""


def owed_occurrences(
    record: PatientRecord,
    infusions: Sequence[Infusion],
    on: date,
    sent: frozenset[str],
    protocol: Protocol,
    *,
    ended_by: date | None = None,
) -> list[OwedOccurrence]:
    """Occurrences owed on ``on`` (due, overdue or missed, key not in ``sent``) in ``notices_due``'s order: due
    date, then protocol order. ``infusions`` are those existing on ``on``, in date order (at least one).
    ``ended_by``: periods ended on or before that day are never owed (history is not news)."""
    profile = record.profile
    pid = profile.patient_id
    grid = month_grid(infusions[0].date, protocol.lead_days)
    span = grid.months_through(add_months(infusions[-1].date, protocol.monitoring_months))
    grace = timedelta(days=protocol.grace_days)
    index = result_index(record)
    by_item = index.dates
    tomorrow = on + ONE_DAY if on < date.max else on
    bound = bound_after(grid.t0, tomorrow)
    ended = 0 if ended_by is None else bound_after(grid.t0, ended_by)
    owed: list[tuple[date, int, OwedOccurrence]] = []
    counted: dict[tuple[int, int], tuple[int, int, int, int] | None] = {}  # items of one cadence share the counts
    for order, spec in enumerate(protocol.monitoring):
        if not applies_to(spec.who, profile):
            continue
        slots = _slots_of(index, grid, spec, span)
        shape = (spec.first_due_months, spec.cadence_months)
        if shape in counted:
            counts = counted[shape]
        else:
            counts = counted[shape] = _counts(slots, on, tomorrow, bound, ended_by, ended)
        if counts is None:
            continue  # no period opened yet
        opened, past, low, upto = counts
        ds = by_item.get(spec.item, _NONE)
        item = str(spec.item)
        prefix = f"{pid}#occurrence#{item}#"
        dues = slots.dues
        if past >= low:
            empty = slots.empty_through(ds, upto)
            for k in empty[bisect_left(empty, low) : bisect_right(empty, past)]:
                key = f"{prefix}{k}#missed"
                if key not in sent:
                    due = dues[slots.first + (k - 1) * slots.cadence]
                    owed.append((due, order, (due, item, k, "missed", key)))
        if opened > past and opened >= low:  # the period holding ``on``
            month = slots.first + (opened - 1) * slots.cadence
            at = bisect_left(ds, slots.opens[month])
            if at == len(ds) or ds[at] > on:  # no result in it yet
                due = dues[month]
                state = "due" if on <= due + grace else "overdue"
                key = f"{prefix}{opened}#{state}"
                if key not in sent:
                    owed.append((due, order, (due, item, opened, state, key)))
    owed.sort(key=_due_then_order)
    return [entry for _, _, entry in owed]


def _counts(  # noqa: PLR0917 - hot path, once per cadence
    slots: _Slots, on: date, tomorrow: date, bound: int, ended_by: date | None, ended: int
) -> tuple[int, int, int, int] | None:
    """(periods opened by ``on``, periods over by ``on``, the first not ended by ``ended_by``, periods over by
    tomorrow: next_check after ``on`` reads those, so the empty ones are found for both at once); None when no
    period has opened."""
    high = slots.bound(bound)
    since_first = bisect_right(slots.opens, on, 0, high + 1) - 1 - slots.first  # months from D_1's to on's
    if since_first < 0 or not slots.count:
        return None
    opened = min(slots.count, since_first // slots.cadence + 1)
    past = min(slots.count, since_first // slots.cadence)
    low = 1 if ended_by is None else slots.closed_by(ended_by, slots.bound(ended)) + 1
    return opened, past, low, slots.closed_by(tomorrow, high)


def _due_then_order(entry: tuple[date, int, OwedOccurrence]) -> tuple[date, int]:
    return entry[0], entry[1]


class Earliest(Structural):
    """What ``next_check`` keeps: the earliest owed day so far among [low, high]."""

    @property
    def low(self) -> date: ...

    def offer(self, first: date, last: date) -> None: ...

    def could_improve(self, first: date, last: date) -> bool: ...

    def beaten_by(self, day: date) -> bool: ...


def occurrence_windows(
    record: PatientRecord,
    infusions: Sequence[Infusion],
    sent: frozenset[str],
    protocol: Protocol,
    earliest: Earliest,
    *,
    ended_by: date | None = None,
) -> None:
    """Offer ``earliest`` each occurrence's owed days after ``earliest.low``: due on [O_k, D_k + grace], overdue
    until O_(k+1) - 1, missed from O_(k+1), cut at the day its result arrives and starting no earlier than the
    infusion that made it exist. ``infusions``: all of them, in date order (at least one).

    A period over by ``low`` with a result was done before ``low`` and can owe nothing; one without a result
    owes its missed key. From the first period still open on ``low`` on, periods are read in order until
    ``earliest`` holds a day no later period can beat (each period's days start at its O_k)."""
    pid = record.profile.patient_id
    existence = _Existence(infusions, protocol.monitoring_months)
    grid = month_grid(infusions[0].date, protocol.lead_days)
    span = grid.months_through(existence.last_end)
    grace = timedelta(days=protocol.grace_days)
    index = result_index(record)
    by_item = index.dates
    low = earliest.low
    bound = bound_after(grid.t0, low)
    ended = 0 if ended_by is None else bound_after(grid.t0, ended_by)
    counted: dict[tuple[int, int], tuple[int, int]] = {}
    for spec in protocol.monitoring:
        if not applies_to(spec.who, record.profile):
            continue
        slots = _slots_of(index, grid, spec, span)
        if not slots.count:
            continue
        first, cadence, dues, opens = slots.first, slots.cadence, slots.dues, slots.opens
        shape = (first, cadence)
        if shape in counted:
            start, over = counted[shape]
        else:
            start = 1 if ended_by is None else slots.closed_by(ended_by, slots.bound(ended)) + 1
            over = slots.closed_by(low, slots.bound(bound))  # periods 1..over closed on or before ``low``
            counted[shape] = start, over  # items of one cadence share the counts
        prefix = f"{pid}#occurrence#{spec.item}#"
        if over >= start:
            empty = slots.empty_through(by_item.get(spec.item, _NONE), over)
            for k in empty[bisect_left(empty, start) : bisect_right(empty, over)]:
                month = first + (k - 1) * cadence
                if earliest.beaten_by(opens[month]):
                    break
                # over by ``low`` with no result: only its missed days can still come
                if f"{prefix}{k}#missed" not in sent:
                    earliest.offer(max(opens[month + cadence], existence.of(dues[month])), date.max)
        ds = by_item.get(spec.item, _NONE)
        for k in range(max(start, over + 1), slots.count + 1):
            month = first + (k - 1) * cadence
            if month + cadence >= len(opens):
                grid.reach(month + cadence)
            opened = opens[month]
            if earliest.beaten_by(opened):
                break
            closing = opens[month + cadence]
            at = bisect_left(ds, opened)
            result = ds[at] if at < len(ds) and ds[at] < closing else None
            if result is not None and result <= low:
                continue  # done before the first day that matters
            due = dues[month]
            exists = existence.of(due)
            stop = date.max if result is None else result - ONE_DAY
            late = due + grace
            if low <= late:
                _offer(earliest, sent, prefix, k, "due", max(opened, exists), min(late, stop))
            if low < closing:
                _offer(earliest, sent, prefix, k, "overdue", max(late + ONE_DAY, exists), min(closing - ONE_DAY, stop))
            _offer(earliest, sent, prefix, k, "missed", max(closing, exists), stop)


class _Existence:
    """The day occurrence D_k came to exist: the first infusion whose monitoring (T + months) reaches D_k.
    Only the first infusion's reach is computed unless a later D_k asks for the others."""

    __slots__ = ("_ends", "first_end", "infusions", "last_end", "months")

    def __init__(self, infusions: Sequence[Infusion], months: int) -> None:
        self.infusions, self.months = infusions, months
        self.first_end = add_months(infusions[0].date, months)
        self.last_end = add_months(infusions[-1].date, months)
        self._ends: list[date] | None = None

    def of(self, due: date) -> date:
        if due <= self.first_end:
            return self.infusions[0].date
        if self._ends is None:
            self._ends = [add_months(i.date, self.months) for i in self.infusions]
        return self.infusions[bisect_left(self._ends, due)].date


def _offer(  # noqa: PLR0917 - hot path
    earliest: Earliest, sent: frozenset[str], prefix: str, k: int, state: str, first: date, last: date
) -> None:
    """The key is only spelled when the window could improve the answer."""
    if earliest.could_improve(first, last) and f"{prefix}{k}#{state}" not in sent:
        earliest.offer(first, last)
