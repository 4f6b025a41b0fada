"""The worklist projection kept by every write and by the sweep (in-memory repository, the real engine): it always
equals a fresh computation, is written only when it changed, brings the sweep back on its "changes on" date, and an
acknowledgement racing a sweep is never undone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from lemtrada.regimen.records import Label
from lemtrada.services.acknowledgements import AcknowledgementInput, Acknowledging
from lemtrada.services.actor import Actor, Role
from lemtrada.services.clinics import Clinics
from lemtrada.services.patients import Patients
from lemtrada.services.recording import Recording
from lemtrada.services.sweep import SweepService
from lemtrada.services.worklists import compute
from lemtrada.storage.ports import StoredPatient, VersionConflict

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.support.records import infusion_request
from tests.unit.services.test_use_cases import CLINICIAN, _enrollment

ADMIN = Actor("admin-1", frozenset({Role.ADMINS}))
ENROLLED = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = ENROLLED

    def __call__(self) -> datetime:
        return self.now


def _setup(repo: InMemoryPatientRepository | None = None) -> tuple[InMemoryPatientRepository, Clock, str]:
    repo = repo if repo is not None else InMemoryPatientRepository(due_shards=4)
    clock = Clock()
    Clinics(repo, clock).put_clinic(ADMIN, "c1", name="Clinic", timezone="UTC", label=Label.US)
    pid = Patients(repo, clock).enroll(CLINICIAN, _enrollment(patient_sub=None)).patient_id
    for offset in range(5):
        clock.now = ENROLLED + timedelta(days=offset)
        Recording(repo, clock).record_infusion(CLINICIAN, pid, infusion_request(clock.now.date()))
    return repo, clock, pid


def _stored(repo: InMemoryPatientRepository, pid: str) -> StoredPatient:
    stored = repo.get_patient(pid)
    assert stored is not None
    return stored


def _fresh(stored: StoredPatient, day: date) -> Any:
    return compute(stored.record, stored.acknowledgements, day, Label.US)


def _sweep(repo: InMemoryPatientRepository, day: date) -> None:
    service = SweepService(repo, InMemoryOutbox(), InMemoryDigestPublisher())
    plan = service.plan({"date": day.isoformat()})
    for shard in plan.shards:
        service.sweep_shard(shard, plan.clinics)


def test_every_write_keeps_the_projection_and_next_check_includes_its_change() -> None:
    repo, clock, pid = _setup()
    stored = _stored(repo, pid)
    assert stored.worklist is not None
    assert stored.worklist.items == _fresh(stored, clock.now.date()).items
    assert stored.worklist.changes_on is not None
    assert stored.next_check is not None
    assert stored.next_check <= stored.worklist.changes_on
    rows = repo.worklist_page("c1", 10).rows
    assert [row.patient_id for row in rows] == [pid]
    assert repo.worklist_counts("c1")["patients"] == 1


def test_nightly_sweeps_keep_the_projection_equal_to_a_fresh_computation() -> None:
    repo, _, pid = _setup()
    day = date(2026, 10, 6)
    for _ in range(120):
        _sweep(repo, day)
        stored = _stored(repo, pid)
        assert stored.worklist is not None
        assert stored.worklist.items == _fresh(stored, day).items, day
        counts = repo.worklist_counts("c1")
        assert counts["critical"] == sum(1 for i in stored.worklist.items if i.severity == "critical")
        assert counts["patients"] == (1 if stored.worklist.items else 0)
        day += timedelta(days=1)


def test_the_sweep_writes_the_projection_only_when_it_changed() -> None:
    repo, _, pid = _setup()
    day = date(2026, 10, 6)
    _sweep(repo, day)
    before = repo.worklist_writes
    stored = _stored(repo, pid)
    assert stored.worklist is not None
    quiet = stored.worklist.changes_on
    assert quiet is not None
    for offset in range(1, (quiet - day).days):
        _sweep(repo, day + timedelta(days=offset))  # not due, or due for notices only: the worklist holds
    assert repo.worklist_writes == before


class RacingRepository(InMemoryPatientRepository):
    """An acknowledgement lands between the sweep's read and its write (once)."""

    def __init__(self) -> None:
        super().__init__(due_shards=4)
        self.race: Any = None

    def record_sweep(self, *args: Any, **kwargs: Any) -> int:
        race, self.race = self.race, None
        if race is not None:
            race()
        return super().record_sweep(*args, **kwargs)


def test_an_acknowledgement_racing_the_sweep_is_never_undone() -> None:
    repo = RacingRepository()
    clock = Clock()
    Clinics(repo, clock).put_clinic(ADMIN, "c1", name="Clinic", timezone="UTC", label=Label.US)
    pid = Patients(repo, clock).enroll(CLINICIAN, _enrollment(patient_sub=None)).patient_id
    for offset in range(5):
        clock.now = ENROLLED + timedelta(days=offset)
        Recording(repo, clock).record_infusion(CLINICIAN, pid, infusion_request(clock.now.date()))
    day = date(2026, 11, 15)  # the first monthly labs are overdue
    clock.now = datetime(2026, 11, 15, 8, 0, tzinfo=UTC)
    stored = _stored(repo, pid)
    overdue = next(i for i in _fresh(stored, day).items if i.state == "overdue")

    def acknowledge() -> None:
        Acknowledging(repo, clock).acknowledge(
            CLINICIAN, pid, AcknowledgementInput("occurrence", overdue.ref, "patient_contacted")
        )

    repo.race = acknowledge
    _sweep(repo, day)  # its first write loses to the acknowledgement, re-reads and recomputes
    after = _stored(repo, pid)
    assert ("occurrence", overdue.ref) in {(a.kind, a.ref) for a in after.acknowledgements}
    assert after.worklist is not None
    assert overdue.ref not in {i.ref for i in after.worklist.items}
    for row in repo.worklist_page("c1", 10).rows:
        assert overdue.ref not in {i.ref for i in row.worklist.items}
    assert after.swept_through == day


def test_a_stale_sweep_write_is_refused() -> None:
    repo, _, pid = _setup()
    stored = _stored(repo, pid)
    repo.record_sweep(pid, date(2026, 10, 6), [], stored.version, None)
    try:
        repo.record_sweep(pid, date(2026, 10, 6), [], stored.version, None)
    except VersionConflict:
        return
    raise AssertionError("a stale version must be refused")
