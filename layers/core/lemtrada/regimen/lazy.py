"""The occurrences the sweep's question needs, without the whole schedule (DESIGN 2.5, 2.6).

``notices_due`` on day D and ``next_check`` after D read about 270 occurrences per patient if every one is
walked from k = 1, yet only three kinds can matter: the occurrence whose period holds D, the next few (the
first day something is owed again), and the past ones with no result (missed, owed until their key is sent).
Periods are contiguous and sorted (O_(k+1) closes period k), so each of those is found by bisection in the
cached slot columns, and which past periods hold a result by bisecting each result's date: no Occurrence
object, no walk, no matching of the whole history. The answers are exactly the full computation's
(tests/unit/regimen/test_lazy_properties.py holds the round-1 walk as the oracle).

A record's results grouped per item (dates only), its cd4 results and counts, its infusions in date order, its
milestones and its plan (grid, span, each item's slots and empty periods) are computed once per record object and
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
    infusions: tuple[Infusion, ...]  # in date order
    infusion_dates: Dates
    milestones: dict[tuple[int, int], tuple[Protocol, date, list[Milestone]]]  # see milestones_since
    cd4_values: dict[int, tuple[Protocol, tuple[float, ...]]]  # per protocol (by identity): see cd4_values
    plans: dict[tuple[int, date, date], tuple[Protocol, _Plan]]  # see _plan_of


_MEMO_SIZE = 8
_CD4 = ResultItem.CD4
_ITEMS = tuple(ResultItem)
_memo: dict[int, tuple[PatientRecord, ResultIndex]] = {}


def result_index(record: PatientRecord) -> ResultIndex:
    """The record's ``ResultIndex``, built once per record object (see the module's docstring)."""
    hit = _memo.get(id(record))
    if hit is not None and hit[0] is record:
        return hit[1]
    dates: dict[ResultItem, list[date]] = {item: [] for item in _ITEMS}
    appends = {item: column.append for item, column in dates.items()}
    with_findings: list[Result] = []
    cd4: list[Result] = []
    try:
        for result in record.results:  # the one pass over every result: kept to the bare minimum
            item = result.item
            appends[item](result.date)
            if item == _CD4:
                cd4.append(result)
            if result.findings:
                with_findings.append(result)
    except KeyError:  # an item outside ResultItem (not stored by the service): group whatever it holds
        grouped: defaultdict[ResultItem, list[date]] = defaultdict(list)
        for result in record.results:
            grouped[result.item].append(result.date)
        dates = dict(grouped)
        cd4 = [r for r in record.results if r.item == _CD4]
        with_findings = [r for r in record.results if r.findings]
    for column in dates.values():
        column.sort()  # linear on the stored (date-ordered) results
    cd4.sort(key=_by_date)
    infusions = record.infusions
    infusion_dates = tuple(i.date for i in infusions)
    if any(map(gt, infusion_dates, infusion_dates[1:])):  # stored in date order: only a check
        infusions = tuple(sorted(infusions, key=_by_date))
        infusion_dates = tuple(i.date for i in infusions)
    index = ResultIndex(
        dates, tuple(cd4), tuple(r.date for r in cd4), tuple(with_findings), infusions, infusion_dates, {}, {}, {}
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
    The grid is grown only as far as the days asked about need (``bound``), not to the end of monitoring.
    It also holds what one patient's questions ask about the item again and again: the item's result dates
    (``ds``), the notice keys' prefix, and the empty periods with their missed keys."""

    __slots__ = (
        "_empty",
        "_keys",
        "_upto",
        "cadence",
        "count",
        "ds",
        "dues",
        "first",
        "grid",
        "item",
        "limit",
        "opens",
        "order",
        "prefix",
        "shape",
    )

    def __init__(  # noqa: PLR0917 - built once per item and record
        self, grid: MonthGrid, spec: MonitoringItem, span: int, order: int, ds: list[date], pid: str
    ) -> None:
        first, cadence = spec.first_due_months, spec.cadence_months
        self.grid, self.first, self.cadence, self.shape = grid, first, cadence, (first, cadence)
        self.count = 0 if span < first else (span - first) // cadence + 1
        self.limit = first + self.count * cadence  # the month whose opening closes the last period
        self.dues, self.opens = grid.dues, grid.opens  # grown in place by ``grid.reach``
        self.order, self.ds, self.item = order, ds, str(spec.item)
        self.prefix = f"{pid}#occurrence#{self.item}#"
        self._upto = 0
        self._empty: list[int] = []
        self._keys: list[str] = []

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

    def empty_through(self, upto: int) -> tuple[list[int], list[str]]:
        """Ascending k, at least every k <= ``upto`` (a closed period), whose period holds none of the item's result
        dates, and their missed keys (same positions). Whether a period holds a result does not depend on the day
        asked, so ``notices_due`` and ``next_check`` share one answer; callers slice it to the periods they read."""
        if upto > self._upto:
            self._empty, self._upto = self._compute(upto), upto
            prefix = self.prefix
            self._keys = [f"{prefix}{k}#missed" for k in self._empty]
        return self._empty, self._keys

    def _compute(self, upto: int) -> list[int]:
        first, cadence, opens, ds = self.first, self.cadence, self.opens, self.ds
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


class _Plan:
    """One record's monitoring under one protocol and set of infusions: its month grid, the months its
    monitoring spans, and the ``_Slots`` of each item that applies to the patient, in protocol order. Both of the
    sweep's calls read it, so it is built once (kept with the record's index)."""

    __slots__ = ("grid", "items", "span")

    def __init__(self, record: PatientRecord, index: ResultIndex, infusions: Sequence[Infusion], protocol: Protocol):
        profile = record.profile
        pid = profile.patient_id
        self.grid = grid = month_grid(infusions[0].date, protocol.lead_days)
        self.span = span = grid.months_through(add_months(infusions[-1].date, protocol.monitoring_months))
        by_item = index.dates
        self.items = [
            _Slots(grid, spec, span, order, by_item.get(spec.item, _NONE), pid)
            for order, spec in enumerate(protocol.monitoring)
            if applies_to(spec.who, profile)
        ]


def _plan_of(record: PatientRecord, index: ResultIndex, infusions: Sequence[Infusion], protocol: Protocol) -> _Plan:
    """The record's ``_Plan`` for these infusions (a date-order prefix of the record's: the first and the last
    decide the grid and the span) under ``protocol`` (by identity)."""
    key = (id(protocol), infusions[0].date, infusions[-1].date)
    hit = index.plans.get(key)
    if hit is not None and hit[0] is protocol:
        return hit[1]
    plan = _Plan(record, index, infusions, protocol)
    index.plans[key] = (protocol, plan)
    return plan


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
    index = result_index(record)
    plan = _plan_of(record, index, infusions, protocol)
    t0 = plan.grid.t0
    grace = timedelta(days=protocol.grace_days)
    tomorrow = on + ONE_DAY if on < date.max else on
    bound = bound_after(t0, tomorrow)
    ended = 0 if ended_by is None else bound_after(t0, ended_by)
    owed: list[tuple[date, int, OwedOccurrence]] = []
    counted: dict[tuple[int, int], tuple[int, int, int, int] | None] = {}  # items of one cadence share the counts
    for slots in plan.items:
        shape = slots.shape
        if shape in counted:
            counts = counted[shape]
        else:
            counts = counted[shape] = _counts(slots, on, tomorrow, bound, ended_by, ended)
        if counts is None:
            continue  # no period opened yet
        opened, past, low, upto = counts
        if past >= low:
            empty, keys = slots.empty_through(upto)
            start, stop = bisect_left(empty, low), bisect_right(empty, past)
            if start < stop and not sent.issuperset(keys[start:stop]):  # steady nights: all sent, one C call
                for at in range(start, stop):
                    key = keys[at]
                    if key not in sent:
                        k = empty[at]
                        due = slots.dues[slots.first + (k - 1) * slots.cadence]
                        owed.append((due, slots.order, (due, slots.item, k, "missed", key)))
        if opened > past and opened >= low:  # the period holding ``on``
            month = slots.first + (opened - 1) * slots.cadence
            ds = slots.ds
            at = bisect_left(ds, slots.opens[month])
            if at == len(ds) or ds[at] > on:  # no result in it yet
                due = slots.dues[month]
                state = "due" if on <= due + grace else "overdue"
                key = f"{slots.prefix}{opened}#{state}"
                if key not in sent:
                    owed.append((due, slots.order, (due, slots.item, opened, state, key)))
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

    @property
    def best(self) -> date | None: ...

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
    existence = _Existence(infusions, protocol.monitoring_months)
    index = result_index(record)
    plan = _plan_of(record, index, infusions, protocol)
    grid = plan.grid
    grace = timedelta(days=protocol.grace_days)
    low = earliest.low
    bound = bound_after(grid.t0, low)
    ended = 0 if ended_by is None else bound_after(grid.t0, ended_by)
    counted: dict[tuple[int, int], tuple[int, int]] = {}
    for slots in plan.items:
        if not slots.count:
            continue
        first, cadence, dues, opens = slots.first, slots.cadence, slots.dues, slots.opens
        shape = slots.shape
        if shape in counted:
            start, over = counted[shape]
        else:
            start = 1 if ended_by is None else slots.closed_by(ended_by, slots.bound(ended)) + 1
            over = slots.closed_by(low, slots.bound(bound))  # periods 1..over closed on or before ``low``
            counted[shape] = start, over  # items of one cadence share the counts
        prefix = slots.prefix
        if over >= start:
            empty, keys = slots.empty_through(over)
            first_at, stop_at = bisect_left(empty, start), bisect_right(empty, over)
            if first_at < stop_at and not sent.issuperset(keys[first_at:stop_at]):  # steady nights: all sent
                for at in range(first_at, stop_at):
                    month = first + (empty[at] - 1) * cadence
                    if earliest.beaten_by(opens[month]):
                        break
                    # over by ``low`` with no result: only its missed days can still come
                    if keys[at] not in sent:
                        earliest.offer(max(opens[month + cadence], existence.of(dues[month])), date.max)
        ds = slots.ds
        best = earliest.best
        for k in range(max(start, over + 1), slots.count + 1):
            month = first + (k - 1) * cadence
            if month + cadence >= len(opens):
                grid.reach(month + cadence)
            opened = opens[month]
            if best is not None and best <= opened:
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
            best = earliest.best


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
