"""Patient reminders on the in-memory twins (DESIGN 9): devices, the hourly run, exactly once, every crash point.

Patients treated from 2026-01-15 (course 1 ends 2026-01-19): the first monthly window opens 2026-02-08, overdue
from 2026-02-23. Clinics remind at 09:00 local.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from lemtrada.services.actor import Actor, Role
from lemtrada.services.errors import NotFound, RuleRejected
from lemtrada.services.reminders import LAST_HOUR, WORKERS, Devices, ReminderRun, reminder_date
from lemtrada.storage.ports import MAX_DEVICES, PatientRepository, ReminderStore, StoredPatient, SweepLease

from tests.support.memory import InMemoryPatientRepository, InMemoryPushGateway, InMemoryReminderStore
from tests.unit.regimen.helpers import treated
from tests.unit.sweep.fakes import AUDIT, Crash, add_clinic, crash_on

PARIS = "Europe/Paris"  # UTC+1 in February
WINDOW = date(2026, 2, 8)


def at(day: date, hour: int, minute: int = 30) -> datetime:
    """``hour``:``minute`` in Paris on ``day`` (UTC+1 in winter)."""
    return datetime(day.year, day.month, day.day, hour - 1, minute, tzinfo=UTC)


def patient(sub: str) -> Actor:
    return Actor(sub, frozenset({Role.PATIENTS}))


class World:
    """A Paris clinic with ``patients`` treated patients, each with one phone; the parts in memory unless given
    (tests/functional/test_reminder_store.py passes the DynamoDB ones under moto)."""

    def __init__(
        self,
        patients: int = 3,
        repo: PatientRepository | None = None,
        store: ReminderStore | None = None,
        gateway: InMemoryPushGateway | None = None,
        workers: int = 1,
    ) -> None:
        memory = InMemoryPatientRepository(due_shards=4)
        self.repo: PatientRepository = repo or memory
        self.store: ReminderStore = store or InMemoryReminderStore(memory)
        self.gateway = gateway or InMemoryPushGateway()
        self.now = at(date(2026, 2, 1), 10)
        add_clinic(self.repo, "paris", PARIS)
        stored = self.repo.get_clinic("paris")
        assert stored is not None
        self.repo.save_clinic(replace(stored.clinic, reminder_hour=9), stored.version, AUDIT)
        self.devices = Devices(self.repo, self.store, self.gateway, lambda: self.now)
        # One worker: a crash point stops the run where it is, as a process dying would (moto is not thread-safe
        # either); test_many_patients_at_once runs the product's default.
        self.run_service = ReminderRun(self.repo, self.store, self.gateway, workers=workers)
        for i in range(patients):
            self.enroll(f"p{i}")
            self.devices.put_device(patient(f"s-p{i}"), f"phone-{i}", "apns", f"token-{i}")

    def enroll(self, pid: str, **changes: object) -> None:
        record = treated("2026-01-15")
        profile = replace(record.profile, patient_id=pid, clinic_id="paris", **changes)  # type: ignore[arg-type]
        record = replace(record, profile=profile)
        self.repo.create_patient(
            StoredPatient(record, 1, datetime(2026, 1, 1, tzinfo=UTC), patient_sub=f"s-{pid}"), AUDIT
        )

    def run(self, instant: datetime, run_id: str = "run-1") -> dict[str, object]:
        return self.run_service.run(instant, run_id).as_json()

    def pushes(self) -> list[tuple[str, str, str]]:
        """(device, kind, date) of every push sent."""
        return [(self.gateway.endpoints[p.endpoint_arn][1], p.data["kind"], p.data["date"]) for p in self.gateway.sent]


# ---- devices ---------------------------------------------------------------------------------------------------


def test_register_again_is_a_no_op_and_list_has_no_token() -> None:
    world = World(patients=1)
    endpoints = dict(world.gateway.endpoints)
    again = world.devices.put_device(patient("s-p0"), "phone-0", "apns", "token-0")
    assert not again.created
    assert world.gateway.endpoints == endpoints
    listed = world.devices.list_devices(patient("s-p0")).model_dump(mode="json")
    assert listed["reminders"] == {"enabled": True}
    assert listed["devices"] == [
        {
            "device_id": "phone-0",
            "platform": "apns",
            "registered_at": world.now.isoformat().replace("+00:00", "Z"),
            "enabled": True,
        }
    ]
    assert "token-0" not in repr(listed)
    assert "token-0" not in repr(world.store.reminder_state("p0", "paris"))


def test_new_token_replaces_the_endpoint_and_delete_removes_it() -> None:
    world = World(patients=1)
    old = world.store.reminder_state("p0", "paris").devices[0].endpoint_arn
    world.devices.put_device(patient("s-p0"), "phone-0", "fcm", "token-new")
    assert world.gateway.deleted == [old]
    world.devices.delete_device(patient("s-p0"), "phone-0")
    assert world.devices.list_devices(patient("s-p0")).devices == []
    assert not world.gateway.endpoints
    world.devices.delete_device(patient("s-p0"), "phone-0")  # gone already: nothing to do
    assert world.store.patients_to_remind("paris") == ()


def test_at_most_five_devices_and_platform_not_configured() -> None:
    world = World(patients=1)
    for n in range(1, MAX_DEVICES):
        world.devices.put_device(patient("s-p0"), f"phone-{n}", "fcm", f"t{n}")
    with pytest.raises(RuleRejected) as many:
        world.devices.put_device(patient("s-p0"), "phone-9", "fcm", "t9")
    assert many.value.code == "too_many_devices"
    world.devices.put_device(patient("s-p0"), "phone-1", "fcm", "t1-new")  # replacing one is not a sixth
    world.gateway.platforms["fcm"] = ""
    world.devices.delete_device(patient("s-p0"), "phone-4")
    with pytest.raises(RuleRejected) as unconfigured:
        world.devices.put_device(patient("s-p0"), "phone-4", "fcm", "t4")
    assert unconfigured.value.code == "platform_not_configured"
    assert unconfigured.value.violations[0].field == "platform"


@pytest.mark.parametrize(
    "actor",
    [
        Actor("c", frozenset({Role.CLINICIANS}), "paris"),
        Actor("a", frozenset({Role.ADMINS})),
        patient("nobody"),  # a patient the clinic never linked
    ],
)
def test_only_a_linked_patient_has_devices(actor: Actor) -> None:
    world = World(patients=1)
    with pytest.raises(NotFound):
        world.devices.list_devices(actor)
    with pytest.raises(NotFound):
        world.devices.put_device(actor, "phone-x", "apns", "t")
    with pytest.raises(NotFound):
        world.devices.set_reminders(actor, enabled=False)


# ---- which hour --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "lease", "expected"),
    [
        (8, None, None),
        (9, None, WINDOW),
        (LAST_HOUR - 1, None, WINDOW),  # a missed hour is caught up the same day
        (LAST_HOUR, None, None),  # never at night
        (10, SweepLease(WINDOW, "other", at(WINDOW, 9), done=True), None),
        (10, SweepLease(WINDOW, "other", at(WINDOW, 11), done=False), None),  # another live run holds it
        (10, SweepLease(WINDOW, "other", at(WINDOW, 10, 0), done=False), WINDOW),  # its lease ran out
        (10, SweepLease(WINDOW - timedelta(days=1), "other", at(WINDOW, 9), done=True), WINDOW),
    ],
)
def test_reminder_date_by_local_hour_and_lease(hour: int, lease: SweepLease | None, expected: date | None) -> None:
    world = World(patients=0)
    stored = world.repo.get_clinic("paris")
    assert stored is not None
    assert reminder_date(stored.clinic, at(WINDOW, hour), lease, "run-1") == expected


# ---- the run -----------------------------------------------------------------------------------------------------


def test_each_owed_push_once_at_the_clinics_hour() -> None:
    world = World()
    assert world.run(at(WINDOW, 8))["clinics"] == []
    summary = world.run(at(WINDOW, 9))
    assert summary["pushed"] == 3
    assert sorted(world.pushes()) == [(f"phone-{i}", "due", "2026-02-15") for i in range(3)]
    sent = world.gateway.sent[0]
    assert sent.title == "Reminder"
    assert sent.body == "You have monitoring tests due by 2026-02-15. Open the app."
    assert sent.data["items"] == ["cbc", "creatinine", "liver", "urinalysis"]
    for hour in range(10, 24):
        world.run(at(WINDOW, hour) if hour < 24 else at(WINDOW, 23), run_id=f"run-{hour}")
    for day in range(1, 16):
        world.run(at(WINDOW + timedelta(days=day), 9), run_id=f"day-{day}")
    kinds = [kind for _, kind, _ in world.pushes()]
    assert kinds == ["due"] * 3 + ["overdue"] * 3  # 2026-02-23: overdue, once each


def test_many_patients_at_once_each_once() -> None:
    world = World(patients=40, workers=WORKERS)
    world.gateway.gone.add(world.store.reminder_state("p3", "paris").devices[0].endpoint_arn)
    summary = world.run(at(WINDOW, 9))
    assert (summary["queued"], summary["pushed"], summary["disabled"], summary["failed"]) == (40, 39, 1, 0)
    assert len(set(world.pushes())) == len(world.pushes()) == 39
    world.run(at(WINDOW, 10), run_id="run-2")
    assert len(world.pushes()) == 39


def test_disabled_reminders_withdrawn_and_history_get_nothing() -> None:
    world = World(patients=1)
    world.devices.set_reminders(patient("s-p0"), enabled=False)
    world.enroll("w", withdrawn_on=date(2026, 2, 1))
    world.devices.put_device(patient("s-w"), "phone-w", "apns", "token-w")
    world.run(at(WINDOW, 9))
    assert world.pushes() == []
    world.devices.set_reminders(patient("s-p0"), enabled=True)
    world.run(at(WINDOW + timedelta(days=1), 9), run_id="next")
    assert world.pushes() == [("phone-0", "due", "2026-02-15")]


def test_a_disabled_endpoint_is_marked_skipped_and_never_stops_the_others() -> None:
    world = World()
    dead = world.store.reminder_state("p1", "paris").devices[0].endpoint_arn
    world.gateway.gone.add(dead)
    summary = world.run(at(WINDOW, 9))
    assert (summary["pushed"], summary["disabled"], summary["failed"]) == (2, 1, 0)
    assert world.store.reminder_state("p1", "paris").devices[0].disabled
    assert world.devices.list_devices(patient("s-p1")).devices[0].enabled is False
    world.run(at(WINDOW + timedelta(days=15), 9), run_id="later")  # overdue: p1's dead phone is not tried
    assert sorted(d for d, kind, _ in world.pushes() if kind == "overdue") == ["phone-0", "phone-2"]
    world.devices.put_device(patient("s-p1"), "phone-1", "apns", "token-1")  # the app registers again
    assert not world.store.reminder_state("p1", "paris").devices[0].disabled


def test_a_refused_push_waits_for_a_later_hour_and_goes_once() -> None:
    world = World()
    refused = world.store.reminder_state("p2", "paris").devices[0].endpoint_arn
    world.gateway.fail.add(refused)
    summary = world.run(at(WINDOW, 9))
    assert (summary["pushed"], summary["failed"]) == (2, 1)
    assert not world.store.reminder_leases()["paris"].done  # the run failed: the alarm's metric
    world.gateway.fail.clear()
    world.run(at(WINDOW, 10), run_id="run-2")
    assert sorted(world.pushes()) == [(f"phone-{i}", "due", "2026-02-15") for i in range(3)]
    assert world.store.reminder_leases()["paris"].done


def test_one_push_per_patient_and_date_whatever_runs_that_day() -> None:
    """A run whose date stays open (one endpoint refused) is followed by another the same day: a patient pushed
    already gets no second push that date, even when something new is owed to it by then (its marks forgotten
    here, standing for a fact recorded in between); the next date it does."""
    world = World()
    world.gateway.fail.add(world.store.reminder_state("p2", "paris").devices[0].endpoint_arn)
    world.run(at(WINDOW, 9))
    assert isinstance(world.store, InMemoryReminderStore)
    state = world.store.reminder_state("p0", "paris")
    assert state.last_push == WINDOW
    world.store._states["p0"] = replace(state, marks=frozenset())  # something new owed
    world.gateway.fail.clear()
    world.run(at(WINDOW, 10), run_id="run-2")
    assert sorted(world.pushes()) == [(f"phone-{i}", "due", "2026-02-15") for i in range(3)]
    world.run(at(WINDOW + timedelta(days=1), 9), run_id="next-day")
    assert [d for d, _, _ in world.pushes()].count("phone-0") == 2


def test_two_devices_each_get_the_one_push() -> None:
    world = World(patients=1)
    world.devices.put_device(patient("s-p0"), "tablet", "fcm", "token-tablet")
    world.run(at(WINDOW, 9))
    assert sorted(d for d, _, _ in world.pushes()) == ["phone-0", "tablet"]


CRASH_POINTS = [
    ("store", "reminder_record", 2, True),  # a record read, its push computed, nothing written for it yet
    ("store", "queue_push", 1, True),  # one push queued and marked, the others not yet
    ("store", "queue_push", 3, False),  # before the last patient's write
    ("store", "queued_pushes", 1, False),  # everything queued, nothing delivered
    ("gateway", "publish", 2, False),  # one delivered, SNS never saw the second
    ("store", "pushed", 2, True),  # two delivered and forgotten, the third not yet published
    ("store", "complete_reminders", 1, False),  # everything out, the date not marked done
]


def _assert_exactly_once(world: World, duplicates: int = 0) -> None:
    pushes = world.pushes()
    assert sorted(set(pushes)) == [(f"phone-{i}", "due", "2026-02-15") for i in range(3)]
    assert len(pushes) - len(set(pushes)) == duplicates


@pytest.mark.parametrize(("target", "method", "call", "after"), CRASH_POINTS)
def test_crash_at_each_point_then_a_later_run_loses_and_repeats_nothing(
    target: str, method: str, call: int, after: bool
) -> None:
    world = World()
    crash_on(world.store if target == "store" else world.gateway, method, call, after)
    with pytest.raises(Crash):
        world.run(at(WINDOW, 9, 5))
    world.run(at(WINDOW, 10), run_id="run-2")  # the crashed run's lease (20 minutes) ran out
    world.run(at(WINDOW, 11), run_id="run-3")
    _assert_exactly_once(world)


def test_the_retry_of_the_same_run_takes_its_own_lease() -> None:
    world = World()
    crash_on(world.store, "queue_push", 2, after=True)
    with pytest.raises(Crash):
        world.run(at(WINDOW, 9, 5))
    world.run(at(WINDOW, 9, 7))  # Lambda's retry of the same invocation: same run id, lease still held
    _assert_exactly_once(world)


def test_the_one_duplicate_window_after_sns_accepted_before_forgetting() -> None:
    world = World()
    crash_on(world.store, "pushed", 1, after=False)
    with pytest.raises(Crash):
        world.run(at(WINDOW, 9, 5))
    world.run(at(WINDOW, 10), run_id="run-2")
    _assert_exactly_once(world, duplicates=1)


def test_a_crashed_day_is_delivered_the_next_day_once() -> None:
    world = World()
    crash_on(world.store, "queued_pushes", 1, after=False)
    with pytest.raises(Crash):
        world.run(at(WINDOW, 20, 55))  # the last hour of the day
    world.run(at(WINDOW + timedelta(days=1), 9), run_id="next-day")
    _assert_exactly_once(world)


# ---- one endpoint, one device --------------------------------------------------------------------------------


def test_a_reinstall_with_the_same_token_replaces_the_old_device_and_pushes_once() -> None:
    """The app reinstalled registers a new device id with the phone's token: SNS answers the same endpoint, the
    old record goes in the same write, the push goes once, and deleting the new device deletes the endpoint."""
    world = World(patients=1)
    world.devices.put_device(patient("s-p0"), "phone-0-reinstalled", "apns", "token-0")
    state = world.store.reminder_state("p0", "paris")
    assert [d.device_id for d in state.devices] == ["phone-0-reinstalled"]
    assert world.gateway.deleted == []  # the endpoint is the new device's now
    world.run(at(WINDOW, 9))
    assert world.pushes() == [("phone-0-reinstalled", "due", "2026-02-15")]
    world.devices.delete_device(patient("s-p0"), "phone-0-reinstalled")
    assert not world.gateway.endpoints


def test_two_records_on_one_endpoint_stored_earlier_get_one_push() -> None:
    world = World(patients=1)
    assert isinstance(world.store, InMemoryReminderStore)
    state = world.store.reminder_state("p0", "paris")
    twin = replace(state.devices[0], device_id="phone-0-old")
    world.store._states["p0"] = replace(state, devices=(twin, *state.devices))
    world.run(at(WINDOW, 9))
    assert len(world.gateway.sent) == 1
    world.devices.delete_device(patient("s-p0"), "phone-0-old")  # the endpoint is phone-0's (its user data)
    assert world.gateway.endpoints
    assert world.gateway.deleted == []


def test_a_token_taken_over_by_another_patient_never_gets_the_first_patients_push() -> None:
    """Patient p1 registers the token p0's phone had (a phone handed on): SNS gives p1 the endpoint. p0's record
    still names it: the run treats it as gone (marked, skipped), p0's deletion leaves p1's endpoint alone."""
    world = World(patients=2)
    shared = world.store.reminder_state("p0", "paris").devices[0].endpoint_arn
    world.devices.delete_device(patient("s-p1"), "phone-1")
    world.devices.put_device(patient("s-p1"), "phone-1", "apns", "token-0")
    assert world.store.reminder_state("p1", "paris").devices[0].endpoint_arn == shared
    summary = world.run(at(WINDOW, 9))
    assert (summary["pushed"], summary["disabled"]) == (1, 1)
    assert [p.endpoint_arn for p in world.gateway.sent] == [shared]
    assert world.store.reminder_state("p0", "paris").devices[0].disabled
    assert not world.store.reminder_state("p1", "paris").devices[0].disabled
    world.devices.delete_device(patient("s-p0"), "phone-0")
    assert shared in world.gateway.endpoints
    assert shared not in world.gateway.deleted


def test_a_stale_queued_push_never_disables_the_phones_new_registration() -> None:
    stale_push_after_a_new_registration(World(patients=1))


def stale_push_after_a_new_registration(world: World) -> None:
    """A push waits (refused); the phone registers again with a new token (a new endpoint, the old one deleted);
    the retry finds the old endpoint gone: the device stays enabled, on its new endpoint, and is pushed later."""
    old = world.store.reminder_state("p0", "paris").devices[0].endpoint_arn
    world.gateway.fail.add(old)
    world.run(at(WINDOW, 9))
    world.devices.put_device(patient("s-p0"), "phone-0", "apns", "token-0-new")
    device = world.store.reminder_state("p0", "paris").devices[0]
    assert device.endpoint_arn != old
    summary = world.run(at(WINDOW, 10), run_id="run-2")
    assert summary["disabled"] == 1  # the stale endpoint is forgotten from the outbox
    assert world.store.queued_pushes("paris") == ()
    assert not world.store.reminder_state("p0", "paris").devices[0].disabled
    world.run(at(WINDOW + timedelta(days=15), 9), run_id="overdue")
    assert world.pushes() == [("phone-0", "overdue", "2026-02-15")]


# ---- a push that keeps failing expires -------------------------------------------------------------------------


def test_a_push_refused_past_the_next_day_is_given_up() -> None:
    refused_until_it_expires(World(patients=2))


def refused_until_it_expires(world: World) -> None:
    """SNS refuses p1's push on its date and the next: retried each run; the day after it is dropped, counted as
    expired, and the clinic's date completes again (the run no longer fails)."""
    world.gateway.fail.add(world.store.reminder_state("p1", "paris").devices[0].endpoint_arn)
    assert world.run(at(WINDOW, 9))["failed"] == 1
    assert world.run(at(WINDOW + timedelta(days=1), 9), run_id="next")["failed"] == 1
    assert world.store.queued_pushes("paris")[0].attempts == 2
    summary = world.run(at(WINDOW + timedelta(days=2), 9), run_id="after")
    assert (summary["failed"], summary["expired"]) == (0, 1)
    assert world.store.queued_pushes("paris") == ()
    assert world.store.reminder_leases()["paris"].done
    assert [d for d, _, _ in world.pushes()] == ["phone-0"]


def test_a_push_refused_in_max_attempts_runs_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lemtrada.services.reminders.MAX_PUSH_ATTEMPTS", 2)
    world = World(patients=1)
    world.gateway.fail.add(world.store.reminder_state("p0", "paris").devices[0].endpoint_arn)
    assert world.run(at(WINDOW, 9))["failed"] == 1
    summary = world.run(at(WINDOW, 10), run_id="run-2")
    assert (summary["failed"], summary["expired"]) == (0, 1)
    assert world.store.queued_pushes("paris") == ()
    assert world.store.reminder_leases()["paris"].done
