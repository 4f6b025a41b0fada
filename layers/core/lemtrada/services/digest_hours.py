"""Which clinics an hourly sweep run takes, by each clinic's own morning (DESIGN 8, "its own morning").

Pure: the run's instant, the clinic (time zone, ``digest_hour``) and the clinic's sweep lease (the last local date
a run claimed for it, and whether that run finished) decide. A clinic is taken for its local date once its local
hour has reached ``digest_hour`` and that date is not swept yet, so a missed hour is caught up by a later run of the
same local day and a missed day by the next day's run (the notices are state-driven, DESIGN 2.6, so nothing owed
is lost). On a daylight-saving day the local hour jumps or repeats; "has reached" (not "equals") sweeps the date
exactly once either way, also when ``digest_hour`` falls in the skipped hour.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from lemtrada.regimen.records import Clinic
from lemtrada.storage.ports import SweepLease

LEASE = timedelta(minutes=90)
"""How long a run holds a clinic's date: longer than the state machine's timeout (one hour), so a live run is
never overtaken, short enough that the next hourly runs of the same day retry a crashed one."""

LATE_AFTER = timedelta(hours=3)
"""A clinic not swept by its ``digest_hour`` + 3 hours raises the sweep-late alarm."""


def local_now(instant: datetime, timezone: str) -> datetime:
    return instant.astimezone(ZoneInfo(timezone))


def date_to_sweep(clinic: Clinic, instant: datetime, lease: SweepLease | None, run_id: str) -> date | None:
    """The clinic's local date if this run should sweep it now, else None.

    Taken when its local hour has reached ``digest_hour`` and that date is not done, unless another live run
    holds it. The same run asking again (a Step Functions retry of the plan) gets the date again."""
    local = local_now(instant, clinic.timezone)
    today = local.date()
    if local.hour < clinic.digest_hour:
        return None
    if lease is None or lease.date < today:
        return today
    if lease.date > today or lease.done:
        return None  # swept already (or a time zone moved west since: that date was swept as a later one)
    if lease.run_id == run_id or lease.until <= instant:
        return today  # our own retry, or a run that crashed and let its lease lapse
    return None  # another run holds it now


def is_late(clinic: Clinic, instant: datetime, lease: SweepLease | None) -> bool:
    """True when the clinic's digest should have gone out 3 hours ago and no finished sweep covers its date.

    A clinic never swept (created since the last run) is not late: the next run takes it."""
    if lease is None:
        return False
    local = local_now(instant, clinic.timezone)
    zone = ZoneInfo(clinic.timezone)
    for day in (local.date(), local.date() - timedelta(days=1)):
        deadline = datetime(day.year, day.month, day.day, clinic.digest_hour, tzinfo=zone) + LATE_AFTER
        if instant >= deadline:
            return lease.date < day or (lease.date == day and not lease.done)
    return False
