"""After API writes on DynamoDB Local, the sparse DueIndex holds exactly the patients that owe a notice."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from lemtrada.regimen import next_check, protocol_for
from lemtrada.regimen.records import Diagnosis, Label, ResultItem, Sex
from lemtrada.services.actor import Actor, Role
from lemtrada.services.clinics import Clinics
from lemtrada.services.patients import EnrollmentInput, Patients, ProfilePatch
from lemtrada.services.recording import Recording, ResultInput
from lemtrada.storage.repository import DynamoPatientRepository

from tests.integration.conftest import DynamoDBTables
from tests.support.records import infusion_request

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_due_index_holds_the_due_patients(dynamodb_local: DynamoDBTables) -> None:
    repository = DynamoPatientRepository(dynamodb_local.table_name, region="us-east-1", host=dynamodb_local.endpoint)
    clock = lambda: NOW  # noqa: E731
    clinic_id = f"due-{uuid.uuid4().hex[:8]}"
    clinician = Actor("clin", frozenset({Role.CLINICIANS}), clinic_id)
    Clinics(repository, clock).put_clinic(
        Actor("adm", frozenset({Role.ADMINS})), clinic_id, name="C", timezone="UTC", label=Label.US
    )
    enrollment = EnrollmentInput(
        birth_date=date(1980, 1, 1),
        sex=Sex.MALE,
        reproductive_potential=False,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=2,
        contraindications=frozenset(),
    )
    patients, recording = Patients(repository, clock), Recording(repository, clock)
    waiting = patients.enroll(clinician, enrollment).patient_id
    treated = patients.enroll(clinician, enrollment).patient_id
    history = patients.enroll(clinician, enrollment).patient_id
    withdrawn = patients.enroll(clinician, enrollment).patient_id
    for patient_id in (treated, withdrawn):
        for day in range(16, 21):
            recording.record_infusion(clinician, patient_id, infusion_request(date(2026, 11, day)))
    # History typed in late: a course a year ago, so notices are owed in the past.
    for day in range(3, 8):
        recording.record_infusion(clinician, history, infusion_request(date(2025, 11, day)))
    recording.record_result(clinician, history, ResultInput(ResultItem.CBC, date(2025, 12, 3), value=5.0))
    patients.patch_profile(clinician, withdrawn, ProfilePatch(withdrawn=True))

    protocol = protocol_for(Label.US)
    expected: dict[str, date] = {}
    for patient_id in (waiting, treated, history, withdrawn):
        stored = repository.get_patient(patient_id)
        assert stored is not None
        owed = next_check(stored.record, stored.sent_notices, protocol, after=stored.swept_through)
        assert stored.next_check == owed
        if owed is not None:
            expected[patient_id] = owed

    indexed: dict[str, date] = {}
    for shard in range(repository.due_shards):
        for entry in repository.due_patients(shard, date(2099, 12, 31)):
            if entry.clinic_id == clinic_id:
                indexed[entry.patient_id] = entry.next_check
    assert indexed == expected
    assert treated in indexed
    assert indexed[history] < NOW.date()  # picked up by the very next sweep, whatever its date
    assert waiting not in indexed
