"""The sweep worker's eventually consistent read: a stale record can neither lose nor repeat a notice.

``StaleRepository`` answers ``get_patient(consistent_read=False)`` with a copy frozen earlier (what a lagging
DynamoDB replica returns) and every other call with the truth, so each test decides exactly how stale it is.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from lemtrada.services.sweep import SweepService, run_in_process
from lemtrada.storage.ports import StoredPatient

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.unit.sweep.fakes import AUDIT, FakeNotice, WindowRules, add_clinic, add_patient

D = date(2026, 3, 2)


class StaleRepository(InMemoryPatientRepository):
    """Eventually consistent reads return the snapshot taken by ``freeze`` (until ``thaw``)."""

    def __init__(self) -> None:
        super().__init__(due_shards=2)
        self.frozen: dict[str, StoredPatient | None] = {}
        self.reads: Counter[bool] = Counter()

    def freeze(self, patient_id: str) -> None:
        self.frozen[patient_id] = super().get_patient(patient_id)

    def get_patient(self, patient_id: str, *, consistent_read: bool = True) -> StoredPatient | None:
        self.reads[consistent_read] += 1
        if not consistent_read and patient_id in self.frozen:
            return self.frozen[patient_id]
        return super().get_patient(patient_id)


class World:
    def __init__(self) -> None:
        self.repo = StaleRepository()
        self.outbox = InMemoryOutbox(self.repo)
        self.publisher = InMemoryDigestPublisher()
        self.rules = WindowRules()
        self.service = SweepService(self.repo, self.outbox, self.publisher, self.rules)
        add_clinic(self.repo, "c", "UTC")

    def patient(self, pid: str, *windows: tuple[str, date, date]) -> None:
        self.rules.windows[pid] = [FakeNotice(pid, code, start, end) for code, start, end in windows]
        add_patient(self.repo, pid, "c", self.rules.first_check(pid))

    def run(self, day: date) -> None:
        run_in_process(self.service, {"date": day.isoformat()})

    def delivered(self) -> list[tuple[str, str, str]]:
        return [(s.digest["date"], i["patient_id"], i["code"]) for s in self.publisher.sent for i in s.digest["items"]]


def test_the_first_read_is_eventually_consistent_and_enough_when_fresh() -> None:
    world = World()
    world.patient("p1", ("a", D, D + timedelta(days=5)))
    world.run(D)
    assert world.delivered() == [(D.isoformat(), "p1", "a")]
    assert world.repo.reads == {False: 1}


def test_a_stale_record_missing_last_nights_marks_repeats_nothing() -> None:
    world = World()
    world.patient("p1", ("a", D, D + timedelta(days=5)), ("b", D + timedelta(days=1), D + timedelta(days=5)))
    world.repo.freeze("p1")  # the replica still shows the patient before the sweep of D
    world.run(D)
    world.run(D + timedelta(days=1))  # the stale copy owes "a" again and "b": the version check catches it
    assert world.delivered() == [(D.isoformat(), "p1", "a"), ((D + timedelta(days=1)).isoformat(), "p1", "b")]
    stored = world.repo.get_patient("p1")
    assert stored is not None
    assert stored.sent_notices == {"a@" + D.isoformat(), "b@" + (D + timedelta(days=1)).isoformat()}
    assert world.repo.reads[True] >= 1  # the conflict made the worker read strongly consistent


def test_a_stale_record_that_is_not_due_yet_is_read_again() -> None:
    world = World()
    world.patient("p1", ("a", D + timedelta(days=30), D + timedelta(days=40)))
    world.repo.freeze("p1")  # the replica has the old next_check, a month away
    stored = world.repo.get_patient("p1")
    assert stored is not None
    world.rules.windows["p1"].append(FakeNotice("p1", "now", D, D + timedelta(days=3)))
    world.repo.update_profile(stored.record.profile, stored.version, D, AUDIT)  # a write makes it due today
    world.run(D)
    assert world.delivered() == [(D.isoformat(), "p1", "now")]


def test_a_stale_record_owing_a_notice_no_longer_owed_withdraws_it() -> None:
    world = World()
    world.patient("p1", ("a", D, D + timedelta(days=5)), ("b", D, D + timedelta(days=5)))
    world.repo.freeze("p1")
    stored = world.repo.get_patient("p1")
    assert stored is not None
    world.repo.update_profile(stored.record.profile, stored.version, D, AUDIT)  # a write the replica misses
    world.rules.windows["p1"] = world.rules.windows["p1"][:1]  # ... which settled "b"
    world.run(D)
    assert world.delivered() == [(D.isoformat(), "p1", "a")]
    assert world.outbox.pending("c") == []
