"""DESIGN 8 "each clinic's digest at its own morning": hourly runs, digest_hour, leases, daylight-saving days.

The pure rule (which date a run takes for a clinic, when a clinic is late) at its boundaries, then the sweep on
the in-memory twins run every hour: each clinic's local date is swept and its digest sent exactly once, at the
first run at or after its digest_hour, through crashes, overlapping runs, a changed hour or time zone, and a
replayed year of hours in four zones with their daylight-saving days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from lemtrada.regimen.records import Clinic, Label
from lemtrada.services.digest_hours import LEASE, date_to_sweep, is_late
from lemtrada.services.sweep import SweepService, run_in_process
from lemtrada.storage.ports import SweepLease

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.unit.sweep.fakes import AUDIT, Crash, FakeNotice, WindowRules, add_patient, crash_on

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
KIRITIMATI, PAGO_PAGO = "Pacific/Kiritimati", "Pacific/Pago_Pago"


def _clinic(timezone: str = BERLIN, digest_hour: int = 6) -> Clinic:
    return Clinic("c-1", "Clinic", timezone, Label.US, digest_hour)


def _at(day: str, hour: int, minute: int = 0, zone: str = BERLIN) -> datetime:
    """A local wall-clock time as the UTC instant a run would see."""
    local = datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


D = date(2026, 11, 24)


# ---- the pure rule -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("local_hour", "lease", "expected"),
    [
        (5, None, None),  # before the digest hour: not yet
        (6, None, D),  # the hour reached
        (23, None, D),  # a missed morning is caught up later the same day
        (6, SweepLease(D - timedelta(days=1), "r-0", _at("2026-11-23", 8), done=True), D),  # yesterday's is old
        (7, SweepLease(D, "r-0", _at("2026-11-24", 7, 30), done=True), None),  # done today
        (7, SweepLease(D, "r-other", _at("2026-11-24", 7, 30), done=False), None),  # another live run holds it
        (7, SweepLease(D, "r-me", _at("2026-11-24", 7, 30), done=False), D),  # our own retry
        (8, SweepLease(D, "r-other", _at("2026-11-24", 7, 30), done=False), D),  # a crashed run's lease lapsed
        (6, SweepLease(D + timedelta(days=1), "r-0", _at("2026-11-25", 8), done=True), None),  # zone moved west
    ],
)
def test_which_date_a_run_takes(local_hour: int, lease: SweepLease | None, expected: date | None) -> None:
    assert date_to_sweep(_clinic(), _at("2026-11-24", local_hour), lease, "r-me") == expected


@pytest.mark.parametrize(
    ("local", "lease", "late"),
    [
        (("2026-11-24", 8, 59), SweepLease(D - timedelta(days=1), "r", _at("2026-11-23", 8), True), False),
        (("2026-11-24", 9, 0), SweepLease(D - timedelta(days=1), "r", _at("2026-11-23", 8), True), True),
        (("2026-11-24", 9, 0), SweepLease(D, "r", _at("2026-11-24", 7, 30), True), False),
        (("2026-11-24", 9, 0), SweepLease(D, "r", _at("2026-11-24", 7, 30), False), True),  # claimed, never done
        (("2026-11-24", 2, 0), SweepLease(D - timedelta(days=2), "r", _at("2026-11-22", 8), True), True),  # a day
        (("2026-11-24", 12, 0), None, False),  # never swept: a new clinic, the next run takes it
    ],
)
def test_a_clinic_is_late_three_hours_after_its_digest_hour(
    local: tuple[str, int, int], lease: SweepLease | None, late: bool
) -> None:
    assert is_late(_clinic(), _at(*local), lease) is late


def test_the_lease_outlasts_a_run_and_lapses_within_the_same_morning() -> None:
    assert timedelta(minutes=55) < LEASE <= timedelta(hours=2)  # the state machine's TimeoutSeconds is 3300


# ---- the sweep run hourly ------------------------------------------------------------------------------------
class Hours:
    """The sweep service on the in-memory twins, one patient per clinic owing one notice on each local date."""

    def __init__(self, clinics: dict[str, tuple[str, int]], first: date, days: int) -> None:
        self.repo = InMemoryPatientRepository(due_shards=2)
        self.outbox = InMemoryOutbox(self.repo)
        self.publisher = InMemoryDigestPublisher()
        self.rules = WindowRules()
        self.service = SweepService(self.repo, self.outbox, self.publisher, self.rules)
        self.sent_at: list[tuple[str, str, datetime]] = []  # (clinic, digest date, run instant)
        self.clinics = clinics
        for cid, (zone, hour) in clinics.items():
            self.repo.save_clinic(Clinic(cid, cid, zone, Label.US, hour), None, AUDIT)
            pid = f"p-{cid}"
            self.rules.windows[pid] = [
                FakeNotice(pid, "daily", first + timedelta(days=n), first + timedelta(days=n)) for n in range(days)
            ]
            add_patient(self.repo, pid, cid, first)

    def run(self, instant: datetime, execution: str | None = None) -> None:
        before = len(self.publisher.sent)
        run_in_process(self.service, {"input": {"now": instant.isoformat()}, "execution": execution or str(instant)})
        for sent in self.publisher.sent[before:]:
            self.sent_at.append((sent.digest["clinic_id"], sent.digest["date"], instant))

    def hours(self, start: datetime, count: int) -> Iterator[datetime]:
        for n in range(count):
            yield start + timedelta(hours=n)

    def digests(self) -> Counter[tuple[str, str]]:
        return Counter((cid, day) for cid, day, _ in self.sent_at)

    def delay(self, cid: str, day: str, instant: datetime) -> timedelta:
        """How long after the clinic's digest hour on that local date the digest went out."""
        zone, hour = self.clinics[cid]
        local_morning = datetime.fromisoformat(day).replace(hour=hour, tzinfo=ZoneInfo(zone))
        return instant - local_morning.astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "day", "hours_in_day"),
    [
        (BERLIN, date(2026, 3, 29), 23),  # spring forward: 02:00 -> 03:00
        (BERLIN, date(2026, 10, 25), 25),  # fall back: 03:00 -> 02:00
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 25),
    ],
)
@pytest.mark.parametrize("digest_hour", [0, 2, 6, 23])  # 2: in the skipped (and in the repeated) hour
def test_a_daylight_saving_day_is_swept_exactly_once(zone: str, day: date, hours_in_day: int, digest_hour: int) -> None:
    zone_info = ZoneInfo(zone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone_info)
    following = midnight + timedelta(days=1)
    assert (following.astimezone(UTC) - midnight.astimezone(UTC)) == timedelta(hours=hours_in_day)
    world = Hours({"c": (zone, digest_hour)}, day - timedelta(days=1), 3)
    start = (midnight - timedelta(days=1)).astimezone(UTC)
    for instant in world.hours(start, 76):  # three local days, a 25-hour one included, and a bit
        world.run(instant)
    digests = world.digests()
    for n in range(3):
        assert digests[("c", (day - timedelta(days=1) + timedelta(days=n)).isoformat())] == 1
    assert len(world.sent_at) == 3
    for cid, sent_day, instant in world.sent_at:
        assert timedelta(0) <= world.delay(cid, sent_day, instant) < timedelta(hours=1), (sent_day, instant)


def test_a_crashed_run_is_finished_by_a_later_run_the_same_morning_and_nothing_goes_out_twice() -> None:
    world = Hours({"c": (BERLIN, 6)}, D, 2)
    at_six = _at("2026-11-24", 6)
    crash_on(world.outbox, "pending", 1)  # the run dies at publish, after its worker queued the notice
    with pytest.raises(Crash):
        world.run(at_six, "exec-6")
    world.run(at_six + timedelta(hours=1), "exec-7")  # the crashed run's lease (90 min) still holds: nothing
    assert world.sent_at == []
    world.run(at_six + timedelta(hours=2), "exec-8")  # lapsed: this run takes the date and sends the digest
    world.run(at_six + timedelta(hours=3), "exec-9")
    assert world.digests() == Counter({("c", "2026-11-24"): 1})


def test_two_runs_at_once_never_publish_the_same_clinic() -> None:
    world = Hours({"a": (BERLIN, 6), "b": (BERLIN, 6)}, D, 2)
    at_six = _at("2026-11-24", 6)
    first = world.service.plan({"input": {"now": at_six.isoformat()}, "execution": "exec-1"})
    # While the first run works, a second starts (an hourly run overrunning, or a manual start): it takes nothing.
    second = world.service.plan({"input": {"now": (at_six + timedelta(minutes=5)).isoformat()}, "execution": "x-2"})
    assert set(first.clinics) == {"a", "b"}
    assert second.idle
    for shard in first.shards:
        world.service.sweep_shard(shard, first.clinics)
    world.service.publish(second.clinics, second.run_id)  # the second run's publish touches neither clinic
    assert world.publisher.sent == []
    world.service.publish(first.clinics, first.run_id)
    assert Counter(s.digest["clinic_id"] for s in world.publisher.sent) == Counter({"a": 1, "b": 1})
    again = world.service.plan({"input": {"now": (at_six + timedelta(hours=1)).isoformat()}, "execution": "x-3"})
    assert again.idle  # both dates are done


@pytest.mark.parametrize(
    ("change", "new"),
    [("digest_hour", 9), ("digest_hour", 3), ("timezone", NEW_YORK), ("timezone", KIRITIMATI)],
)
def test_a_clinic_changing_its_hour_or_zone_mid_day_is_swept_once_for_that_date(change: str, new: object) -> None:
    world = Hours({"c": (BERLIN, 6)}, D - timedelta(days=1), 4)
    start = _at("2026-11-24", 0)
    for instant in world.hours(start, 10):  # swept at 06:00 Berlin
        world.run(instant)
    stored = world.repo.get_clinic("c")
    assert stored is not None
    changed = Clinic("c", "c", **{"timezone": BERLIN, "label": Label.US, "digest_hour": 6, change: new})  # type: ignore[arg-type]
    world.repo.save_clinic(changed, stored.version, AUDIT)
    world.clinics["c"] = (changed.timezone, changed.digest_hour)
    for instant in world.hours(start + timedelta(hours=10), 14):  # the rest of the Berlin day
        world.run(instant)
    per_date = world.digests()
    assert all(count == 1 for count in per_date.values()), per_date


def test_a_replayed_year_of_hours_in_four_zones_sends_each_clinics_digest_once_per_local_date() -> None:
    clinics = {
        "kiritimati": (KIRITIMATI, 6),  # UTC+14
        "pago-pago": (PAGO_PAGO, 7),  # UTC-11: the same instant is two local dates apart
        "new-york": (NEW_YORK, 2),  # its digest hour is skipped on the spring-forward day
        "berlin": (BERLIN, 2),
    }
    first, days = date(2026, 1, 1), 370
    world = Hours(clinics, first, days)
    start = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=14)
    skipped = {
        datetime(2026, 5, 4, 17, tzinfo=UTC),
        datetime(2026, 5, 4, 18, tzinfo=UTC),
    }  # two hourly runs that never happened (the schedule was down)
    for instant in world.hours(start, 24 * 366):
        if instant not in skipped:
            world.run(instant)
    digests = world.digests()
    assert max(digests.values()) == 1, "a digest went out twice"
    for cid, (zone, _hour) in clinics.items():
        local_first = start.astimezone(ZoneInfo(zone)).date()
        local_last = (start + timedelta(hours=24 * 366 - 1)).astimezone(ZoneInfo(zone)).date()
        expected = {
            (first + timedelta(days=n)).isoformat()
            for n in range(days)
            if local_first < first + timedelta(days=n) < local_last
        }
        swept = {day for c, day in digests if c == cid}
        assert expected <= swept, (cid, sorted(expected - swept)[:5])
    late = [
        (cid, day, instant)
        for cid, day, instant in world.sent_at
        if not timedelta(0) <= world.delay(cid, day, instant) < timedelta(hours=1)
    ]
    # Only the two skipped runs delay a digest: the clinics whose morning they were get theirs an hour or two late.
    assert all(instant in {datetime(2026, 5, 4, 19, tzinfo=UTC)} for _, _, instant in late), late
    items = Counter(
        (s.digest["clinic_id"], i["patient_id"], i["date"]) for s in world.publisher.sent for i in s.digest["items"]
    )
    assert max(items.values()) == 1, "a notice went out twice"
