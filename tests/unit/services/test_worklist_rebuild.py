"""The worklist rebuild (DESIGN 8) on the in-memory repository: a patient stored before the projection existed
joins it; a write racing the rebuild is retried from a fresh read and never undone; rerunning writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from lemtrada.services.actor import Actor, Role
from lemtrada.services.errors import NotFound
from lemtrada.services.recording import Recording
from lemtrada.services.worklist_rebuild import WorklistRebuild

from tests.support.memory import InMemoryPatientRepository
from tests.support.records import infusion_request
from tests.unit.services.test_use_cases import CLINICIAN
from tests.unit.services.test_worklist_projection import ADMIN, _setup


def _forget_projection(repo: InMemoryPatientRepository, pid: str) -> None:
    """The state of a patient stored before the projection: none, and the counters without it."""
    state = repo._patients[pid]
    state.worklist = None
    repo._counters.clear()


class RacingRepository(InMemoryPatientRepository):
    """Runs ``race`` (another write) just before the rebuild's first write lands: its version check must fail."""

    race: Callable[[], None] | None = None

    def update_profile(self, *args: Any, **kwargs: Any) -> int:
        race, self.race = self.race, None
        if race is not None:
            race()
        return super().update_profile(*args, **kwargs)


def test_a_patient_without_a_projection_joins_the_worklist_and_counts() -> None:
    repo, clock, pid = _setup()
    _forget_projection(repo, pid)
    assert repo.worklist_page("c1", 10).rows == ()
    page = WorklistRebuild(repo, clock).rebuild_page(ADMIN, "c1", limit=10, cursor=None, scope="missing")
    assert (page.examined, page.rebuilt, page.next_cursor) == (1, 1, None)
    assert [row.patient_id for row in repo.worklist_page("c1", 10).rows] == [pid]
    assert repo.worklist_counts("c1")["patients"] == 1
    again = WorklistRebuild(repo, clock).rebuild_page(ADMIN, "c1", limit=10, cursor=None, scope="all")
    assert again.rebuilt == 0
    assert repo.worklist_counts("c1")["patients"] == 1


def test_a_write_racing_the_rebuild_is_kept_and_the_rebuild_retries() -> None:
    repo = RacingRepository(due_shards=4)
    _, clock, pid = _setup(repo)
    _forget_projection(repo, pid)

    def race() -> None:
        Recording(repo, clock).record_infusion(CLINICIAN, pid, infusion_request(date(2026, 10, 6)))

    repo.race = race
    clock.now += timedelta(days=1)  # 2026-10-06: a day after the course's last infusion
    page = WorklistRebuild(repo, clock).rebuild_page(ADMIN, "c1", limit=10, cursor=None, scope="missing")
    stored = repo.get_patient(pid)
    assert stored is not None
    assert date(2026, 10, 6) in {i.date for i in stored.record.infusions}  # the racing write is kept
    assert stored.worklist is not None
    # the racing write computed the projection itself (it had none to compare with), so the retry finds it current
    assert page.rebuilt == 0
    assert repo.worklist_counts("c1")["patients"] == 1


@pytest.mark.parametrize("actor", [CLINICIAN, Actor("p", frozenset({Role.PATIENTS}))])
def test_only_admins_rebuild(actor: Actor) -> None:
    repo, clock, _ = _setup()
    with pytest.raises(NotFound):
        WorklistRebuild(repo, clock).rebuild_page(actor, "c1", limit=10, cursor=None, scope="missing")
