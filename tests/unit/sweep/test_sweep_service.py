"""The sweep's three steps on the in-memory twins, with a stand-in rules engine: dates, once-only, crashes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from lemtrada.services.sweep import PAGE_BYTES, SweepError, SweepService, parse_run_instant, run_in_process
from lemtrada.storage import packing

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.unit.sweep.fakes import AUDIT, Crash, FakeNotice, WindowRules, add_clinic, add_patient, crash_on

EAST, WEST = "Pacific/Kiritimati", "Pacific/Pago_Pago"  # UTC+14 and UTC-11
D = date(2026, 3, 2)


class World:
    def __init__(self, shards: int = 4) -> None:
        self.repo = InMemoryPatientRepository(due_shards=shards)
        self.outbox = InMemoryOutbox(self.repo)
        self.publisher = InMemoryDigestPublisher()
        self.rules = WindowRules()
        self.service = SweepService(self.repo, self.outbox, self.publisher, self.rules)
        add_clinic(self.repo, "east", EAST)
        add_clinic(self.repo, "west", WEST)

    def patient(
        self, pid: str, clinic: str, *notices: tuple[str, date, date], withdrawn_on: date | None = None
    ) -> None:
        self.rules.windows[pid] = [FakeNotice(pid, code, start, end) for code, start, end in notices]
        add_patient(self.repo, pid, clinic, self.rules.first_check(pid), withdrawn_on=withdrawn_on)

    def run(self, **event: str) -> None:
        run_in_process(self.service, event)

    def delivered(self) -> list[tuple[str, str, str, str]]:
        """(clinic, digest date, patient, code) of every item published, in order."""
        return [
            (s.digest["clinic_id"], s.digest["date"], i["patient_id"], i["code"])
            for s in self.publisher.sent
            for i in s.digest["items"]
        ]


def test_plan_gives_each_clinic_its_local_date() -> None:
    world = World()
    plan = world.service.plan({"now": "2026-03-01T10:30:00Z"})
    assert plan.clinics["east"].date == date(2026, 3, 2)  # 00:30 next day in Kiritimati
    assert plan.clinics["west"].date == date(2026, 2, 28)  # 23:30 the day before in Pago Pago
    assert plan.through == date(2026, 3, 2)
    assert plan.shards == (0, 1, 2, 3)
    fixed = world.service.plan({"date": "2026-03-05"})
    assert {c.date for c in fixed.clinics.values()} == {date(2026, 3, 5)}
    assert plan.to_json()["clinics"]["east"] == {"date": "2026-03-02", "label": "US"}


def test_run_instant_sources() -> None:
    assert parse_run_instant({"time": "2026-03-01T02:00:00Z"}) == (datetime(2026, 3, 1, 2, tzinfo=UTC), None)
    assert parse_run_instant({"date": "2026-03-01"}) == (None, date(2026, 3, 1))
    with pytest.raises(ValueError, match="offset"):
        parse_run_instant({"now": "2026-03-01T02:00:00"})
    instant, fixed = parse_run_instant({})
    assert fixed is None
    assert instant is not None
    assert instant.tzinfo is not None


def test_each_clinic_gets_its_own_digest_on_its_local_date() -> None:
    world = World()
    world.patient("p1", "east", ("a", date(2026, 3, 2), date(2026, 3, 10)))
    world.patient("p2", "west", ("b", date(2026, 3, 1), date(2026, 3, 10)))
    world.run(now="2026-03-01T10:30:00Z")  # east: Mar 2, west: Feb 28
    assert world.delivered() == [("east", "2026-03-02", "p1", "a")]
    world.run(now="2026-03-02T10:30:00Z")  # east: Mar 3, west: Mar 1
    assert world.delivered()[1:] == [("west", "2026-03-01", "p2", "b")]
    assert all(s.attributes["clinic_id"] == s.digest["clinic_id"] for s in world.publisher.sent)


def test_rerun_of_the_same_date_sends_nothing_new() -> None:
    world = World()
    world.patient("p1", "east", ("a", D, D + timedelta(days=5)))
    world.run(date=D.isoformat())
    world.run(date=D.isoformat())
    assert world.delivered() == [("east", D.isoformat(), "p1", "a")]
    marks = world.repo.notice_marks("p1")
    assert len(marks) == 1
    assert ("east", "p1", marks[0].key) in world.outbox.sent_keys
    assert world.outbox.pending_keys() == set()


def test_a_skipped_night_is_caught_up_and_passed_windows_are_not_sent() -> None:
    world = World()
    world.patient(
        "p1",
        "east",
        ("gone", D, D),  # owed only on D: no sweep that night
        ("still", D, D + timedelta(days=3)),
    )
    world.run(date=(D + timedelta(days=1)).isoformat())
    assert world.delivered() == [("east", "2026-03-03", "p1", "still")]


def test_withdrawn_patients_get_nothing_and_leave_the_index() -> None:
    world = World()
    world.patient("p1", "east", ("a", D, D + timedelta(days=5)), withdrawn_on=D - timedelta(days=1))
    world.run(date=D.isoformat())
    assert world.delivered() == []
    stored = world.repo.get_patient("p1")
    assert stored is not None
    assert stored.next_check is None


def test_patients_not_due_in_their_own_clinic_are_left_alone() -> None:
    world = World()
    world.patient("p2", "west", ("b", date(2026, 3, 2), date(2026, 3, 10)))
    world.run(now="2026-03-01T10:30:00Z")  # through = Mar 2 (east) but west is on Feb 28
    assert world.delivered() == []
    stored = world.repo.get_patient("p2")
    assert stored is not None
    assert stored.next_check == date(2026, 3, 2)


def _setup_three(world: World) -> None:
    for i in range(6):
        world.patient(f"p{i}", "east" if i % 2 else "west", ("a", D, D + timedelta(days=20)), ("b", D, D))


def _assert_exactly_once(world: World, allow_duplicates: int = 0) -> None:
    items = [(c, p, code) for c, _, p, code in world.delivered()]
    assert sorted(set(items)) == sorted(
        (("east" if i % 2 else "west"), f"p{i}", code) for i in range(6) for code in "ab"
    )
    assert len(items) - len(set(items)) == allow_duplicates


CRASH_POINTS = [
    ("repo", "get_patient", 3, True),  # a record read and its notices computed, nothing written for it yet
    ("repo", "record_sweep", 2, True),  # after a patient's marks and outbox chunk, later patients untouched
    ("repo", "record_sweep", 3, True),  # a page shared by several patients, the run dies before it is full
    ("repo", "record_sweep", 4, False),  # mid-shard, before a patient's write
    ("repo", "list_clinics", 2, False),  # before publish starts
    ("outbox", "pending", 2, True),  # during publish, between clinics
    ("outbox", "mark_sent", 1, True),  # the first clinic's part retired, the second's not yet published
]


@pytest.mark.parametrize(("target", "method", "call", "after"), CRASH_POINTS)
def test_crash_at_a_step_boundary_then_rerun_loses_and_repeats_nothing(
    target: str, method: str, call: int, after: bool
) -> None:
    world = World()
    _setup_three(world)
    crash_on(world.repo if target == "repo" else world.outbox, method, call, after)
    with pytest.raises(Crash):
        world.run(date=D.isoformat())
    world.run(date=D.isoformat())
    _assert_exactly_once(world)


def test_crash_then_next_night_delivers_what_was_queued_once() -> None:
    world = World()
    _setup_three(world)
    crash_on(world.repo, "record_sweep", 3, after=True)
    with pytest.raises(Crash):
        world.run(date=D.isoformat())
    world.run(date=(D + timedelta(days=1)).isoformat())
    items = [(p, code) for _, _, p, code in world.delivered()]
    assert len(items) == len(set(items))
    assert sorted(p for p, code in items if code == "a") == [f"p{i}" for i in range(6)]
    # "b" was owed only on D: the three patients queued before the crash still get it; the others' night passed
    assert len([p for p, code in items if code == "b"]) == 3


def test_the_one_duplicate_window_after_sns_accepted_before_marking() -> None:
    world = World()
    _setup_three(world)
    crash_on(world.outbox, "mark_sent", 1, after=False)
    with pytest.raises(Crash):
        world.run(date=D.isoformat())
    world.run(date=D.isoformat())
    _assert_exactly_once(world, allow_duplicates=len(world.publisher.sent[0].digest["items"]))


def test_publish_failure_fails_loudly_keeps_entries_pending_and_other_clinics_go_out() -> None:
    world = World()
    _setup_three(world)
    world.publisher.fail_next = 1
    with pytest.raises(SweepError):
        world.run(date=D.isoformat())
    assert len(world.publisher.sent) == 1  # the other clinic's digest
    world.service.publish()  # the state machine's retry
    _assert_exactly_once(world)


def test_a_concurrent_write_makes_the_worker_read_again() -> None:
    world = World()
    world.patient("p1", "east", ("a", D, D + timedelta(days=5)), ("b", D, D + timedelta(days=5)))
    original = world.repo.record_sweep
    calls = {"n": 0}

    def racing(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:  # a clinician records something; the result settles "b"
            world.rules.windows["p1"] = world.rules.windows["p1"][:1]
            stored = world.repo.get_patient("p1")
            assert stored is not None
            world.repo.update_profile(stored.record.profile, stored.version, stored.next_check, AUDIT)
        return original(*args, **kwargs)

    world.repo.record_sweep = racing  # type: ignore[method-assign]
    world.run(date=D.isoformat())
    assert world.delivered() == [("east", D.isoformat(), "p1", "a")]  # the lost attempt queued nothing
    assert world.outbox.pending_keys() == set()


def test_a_race_on_a_later_write_of_a_large_patient_keeps_the_committed_chunks() -> None:
    """250 notices take three writes; a clinician writes between the first and the second: the retry reads again,
    queues only what the first write did not mark, and the first chunk (same run, same page) is not overwritten."""
    world = World(shards=1)
    world.patient("p1", "east", *[(f"n{i:03d}", D, D + timedelta(days=1)) for i in range(250)])
    original = world.repo.record_sweep
    calls = {"n": 0}

    def racing(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            stored = world.repo.get_patient("p1")
            assert stored is not None
            world.repo.update_profile(stored.record.profile, stored.version, stored.next_check, AUDIT)
        return original(*args, **kwargs)

    world.repo.record_sweep = racing  # type: ignore[method-assign]
    world.run(date=D.isoformat())
    codes = [code for _, _, _, code in world.delivered()]
    assert sorted(codes) == [f"n{i:03d}" for i in range(250)]
    assert len(world.repo.notice_marks("p1")) == 250


def test_an_onboarding_night_fills_small_pages() -> None:
    """2,000 patients of one clinic with twelve notices each on one night: every page stays about 1 KB (a chunk
    bigger than a page sits alone), far below DynamoDB's 400 KB; everything goes out once, then no page is left."""
    world = World(shards=4)
    for n in range(2000):
        world.patient(f"p{n:04d}", "east", *[(f"code-{c:02d}", D, D + timedelta(days=3)) for c in range(12)])
    for n in range(4):  # and a few with a hundred notices each
        world.patient(f"big{n}", "east", *[(f"code-{c:03d}", D, D + timedelta(days=3)) for c in range(100)])
    plan = world.service.plan({"date": D.isoformat()})
    for shard in plan.shards:
        world.service.sweep_shard(shard, plan.clinics)
    sizes = {
        page: [len(packing.outbox_chunk(notices)) + len(name) for name, notices in chunks.items()]
        for page, chunks in world.outbox.pages.items()
    }
    assert len(sizes) > 400
    assert all(sum(chunk) <= PAGE_BYTES + 100 or len(chunk) == 1 for chunk in sizes.values())
    assert max(sum(chunk) for chunk in sizes.values()) < 40_000
    world.service.publish()
    assert len(world.delivered()) == 2000 * 12 + 4 * 100
    assert world.outbox.pages == {}


def test_a_patient_with_more_notices_than_one_transaction_holds() -> None:
    world = World(shards=1)
    world.patient("p1", "east", *[(f"n{i}", D, D + timedelta(days=1)) for i in range(250)])
    world.run(date=D.isoformat())
    assert len(world.delivered()) == 250
    assert len(world.repo.notice_marks("p1")) == 250
