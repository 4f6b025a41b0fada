"""Use cases on the in-memory repository: rules called (never re-implemented), writes versioned, retried, audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from lemtrada.regimen import next_check, protocol_for
from lemtrada.regimen.records import (
    Diagnosis,
    Label,
    PatientStatus,
    ResultItem,
    Sex,
)
from lemtrada.services.actor import Actor, Role
from lemtrada.services.calendar import schedule_ics
from lemtrada.services.clinics import Clinics
from lemtrada.services.errors import Conflict, NotFound, RuleRejected, ValidationFailed
from lemtrada.services.patients import EnrollmentInput, Patients, PregnancyChange, ProfilePatch
from lemtrada.services.reading import Reading
from lemtrada.services.recording import Recording, ResultInput
from lemtrada.storage.ports import VersionConflict

from tests.support.memory import InMemoryPatientRepository
from tests.support.records import infusion_request

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin-1", frozenset({Role.ADMINS}))
CLINICIAN = Actor("clin-1", frozenset({Role.CLINICIANS}), "c1")
STRANGER = Actor("clin-2", frozenset({Role.CLINICIANS}), "c2")
PATIENT = Actor("pat-1", frozenset({Role.PATIENTS}))


def _enrollment(**changes: Any) -> EnrollmentInput:
    base = EnrollmentInput(
        birth_date=date(1985, 5, 1),
        sex=Sex.FEMALE,
        reproductive_potential=True,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=2,
        contraindications=frozenset(),
        patient_sub="pat-1",
    )
    return replace(base, **changes)


class FlakyRepository(InMemoryPatientRepository):
    """Another device writes first ``conflicts`` times: each append raises VersionConflict before succeeding."""

    def __init__(self, conflicts: int) -> None:
        super().__init__(due_shards=4)
        self.conflicts = conflicts
        self.attempts = 0

    def add_infusion(self, *args: Any, **kwargs: Any) -> int:
        self.attempts += 1
        if self.conflicts > 0:
            self.conflicts -= 1
            raise VersionConflict("someone else wrote")
        return super().add_infusion(*args, **kwargs)


@pytest.fixture
def repo() -> InMemoryPatientRepository:
    repository = InMemoryPatientRepository(due_shards=4)
    Clinics(repository, lambda: NOW).put_clinic(ADMIN, "c1", name="Clinic", timezone="Europe/Paris", label=Label.US)
    return repository


def _enroll(repo: InMemoryPatientRepository, **changes: Any) -> str:
    return Patients(repo, lambda: NOW).enroll(CLINICIAN, _enrollment(**changes)).patient_id


def test_rejected_enrollment_stores_nothing(repo: InMemoryPatientRepository) -> None:
    with pytest.raises(RuleRejected) as caught:
        Patients(repo, lambda: NOW).enroll(CLINICIAN, _enrollment(diagnosis=Diagnosis.PRIMARY_PROGRESSIVE))
    assert caught.value.code == "not_relapsing_ms"
    assert repo.list_clinic_patients("c1", 10).patients == ()
    assert repo.patient_id_for_user("pat-1") is None


def test_enrollment_links_the_user_and_audits(repo: InMemoryPatientRepository) -> None:
    patient_id = _enroll(repo)
    assert repo.patient_id_for_user("pat-1") == patient_id
    (entry,) = repo.audit_trail(patient_id)
    assert (entry.actor_sub, entry.actor_role, entry.action) == ("clin-1", "clinicians", "patient.enrolled")


def test_today_is_the_clinic_local_date() -> None:
    repository = InMemoryPatientRepository(due_shards=4)
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already the 25th in Auckland
    Clinics(repository, lambda: late).put_clinic(
        ADMIN, "c1", name="Clinic", timezone="Pacific/Auckland", label=Label.US
    )
    view = Patients(repository, lambda: late).enroll(CLINICIAN, _enrollment())
    assert view.profile.enrolled_on == date(2026, 11, 25)


def test_only_admins_manage_clinics(repo: InMemoryPatientRepository) -> None:
    with pytest.raises(NotFound):
        Clinics(repo, lambda: NOW).put_clinic(CLINICIAN, "c1", name="X", timezone="UTC", label=Label.EU)


def test_infusion_write_retries_from_a_fresh_read_and_stores_once() -> None:
    repository = FlakyRepository(conflicts=2)
    Clinics(repository, lambda: NOW).put_clinic(ADMIN, "c1", name="C", timezone="UTC", label=Label.US)
    patient_id = _enroll(repository)
    recorded = Recording(repository, lambda: NOW).record_infusion(
        CLINICIAN, patient_id, infusion_request(date(2026, 11, 20))
    )
    assert recorded.created
    assert repository.attempts == 3
    stored = repository.get_patient(patient_id)
    assert stored is not None
    assert len(stored.record.infusions) == 1


def test_infusion_write_gives_up_with_a_version_conflict() -> None:
    repository = FlakyRepository(conflicts=10)
    Clinics(repository, lambda: NOW).put_clinic(ADMIN, "c1", name="C", timezone="UTC", label=Label.US)
    patient_id = _enroll(repository)
    with pytest.raises(Conflict) as caught:
        Recording(repository, lambda: NOW).record_infusion(CLINICIAN, patient_id, infusion_request(date(2026, 11, 20)))
    assert caught.value.code == "version_conflict"


def test_every_write_stores_the_engines_next_check(repo: InMemoryPatientRepository) -> None:
    patient_id = _enroll(repo)
    recording = Recording(repo, lambda: NOW)
    recording.record_infusion(CLINICIAN, patient_id, infusion_request(date(2026, 11, 20)))
    recording.record_result(CLINICIAN, patient_id, ResultInput(ResultItem.CBC, date(2026, 11, 21), value=5.0))
    stored = repo.get_patient(patient_id)
    assert stored is not None
    expected = next_check(stored.record, stored.sent_notices, protocol_for(Label.US), after=stored.swept_through)
    assert stored.next_check == expected
    assert expected is not None


def test_replay_returns_the_stored_infusion_and_a_different_one_conflicts(repo: InMemoryPatientRepository) -> None:
    patient_id = _enroll(repo)
    recording = Recording(repo, lambda: NOW)
    first = recording.record_infusion(CLINICIAN, patient_id, infusion_request(date(2026, 11, 20)))
    again = recording.record_infusion(CLINICIAN, patient_id, infusion_request(date(2026, 11, 20)))
    assert not again.created
    assert again.view == first.view
    with pytest.raises(Conflict) as caught:
        recording.record_infusion(CLINICIAN, patient_id, infusion_request(date(2026, 11, 20), dose_mg=10))
    assert caught.value.code == "duplicate_infusion"


def test_patients_cannot_write_and_strangers_cannot_read(repo: InMemoryPatientRepository) -> None:
    patient_id = _enroll(repo)
    with pytest.raises(NotFound):
        Recording(repo, lambda: NOW).record_infusion(PATIENT, patient_id, infusion_request(date(2026, 11, 20)))
    with pytest.raises(NotFound):
        Reading(repo, lambda: NOW).get_patient(STRANGER, patient_id)
    assert Reading(repo, lambda: NOW).get_patient(PATIENT, patient_id).patient_id == patient_id


def test_patch_with_a_stale_version_conflicts_and_withdrawal_shows(repo: InMemoryPatientRepository) -> None:
    patient_id = _enroll(repo)
    patients = Patients(repo, lambda: NOW)
    with pytest.raises(Conflict):
        patients.patch_profile(CLINICIAN, patient_id, ProfilePatch(withdrawn=True), if_match=7)
    view = patients.patch_profile(CLINICIAN, patient_id, ProfilePatch(withdrawn=True), if_match=1)
    assert view.status == PatientStatus.WITHDRAWN
    assert view.version == 2


def test_ending_a_pregnancy_that_is_not_ongoing_is_refused(repo: InMemoryPatientRepository) -> None:
    patient_id = _enroll(repo)
    ended = ProfilePatch(pregnancy=PregnancyChange("ended", date(2026, 11, 1)))
    with pytest.raises(ValidationFailed):
        Patients(repo, lambda: NOW).patch_profile(CLINICIAN, patient_id, ended)


def test_calendar_has_stable_uids_per_occurrence(repo: InMemoryPatientRepository) -> None:
    from icalendar import Calendar

    patient_id = _enroll(repo)
    Recording(repo, lambda: NOW).record_infusion(CLINICIAN, patient_id, infusion_request(date(2026, 11, 20)))
    context, schedule = Reading(repo, lambda: NOW).schedule_for_calendar(CLINICIAN, patient_id)
    first = Calendar.from_ical(schedule_ics(patient_id, schedule, NOW))
    second = Calendar.from_ical(schedule_ics(patient_id, schedule, datetime(2027, 1, 1, tzinfo=UTC)))
    uids = [str(event["UID"]) for event in first.walk("VEVENT")]
    assert uids == [str(event["UID"]) for event in second.walk("VEVENT")]
    assert len(uids) == len(set(uids)) == len(schedule.occurrences) + len(schedule.milestones)
    assert context.stored.patient_id == patient_id


def test_calendar_events_ring_at_nine_on_the_day_the_window_opens(repo: InMemoryPatientRepository) -> None:
    """DESIGN 9: a DISPLAY alarm at 09:00 local on the window's first day, naming no test (lock screen)."""
    from icalendar import Calendar

    patient_id = _enroll(repo)
    Recording(repo, lambda: NOW).record_infusion(CLINICIAN, patient_id, infusion_request(date(2026, 11, 20)))
    _, schedule = Reading(repo, lambda: NOW).schedule_for_calendar(CLINICIAN, patient_id)
    events = Calendar.from_ical(schedule_ics(patient_id, schedule, NOW)).walk("VEVENT")
    opens = {f"{o.item.value}-{o.k}": o.window_opens for o in schedule.occurrences}
    assert schedule.occurrences
    for event in events:
        alarms = event.walk("VALARM")
        assert len(alarms) == 1
        alarm = alarms[0]
        assert str(alarm["ACTION"]) == "DISPLAY"
        start = event.decoded("DTSTART")
        rings = datetime.combine(start, datetime.min.time()) + alarm.decoded("TRIGGER")
        key = str(event["UID"]).removeprefix(f"{patient_id}-").split("@")[0]
        assert rings.time().hour == 9
        assert rings.minute == 0
        assert rings.date() == opens.get(key, start)
        assert "Open the app" in str(alarm["DESCRIPTION"])
        assert not any(word in str(alarm["DESCRIPTION"]).lower() for word in ("cbc", "thyroid", "skin", "stroke"))
