"""Lab deliveries (DESIGN 10) through the use case on the in-memory twin and on the DynamoDB adapter over moto:
grouping, corrections, receipts, the critical alert published at once, and the rules each observation meets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from lemtrada.regimen.records import Diagnosis, Label, Sex
from lemtrada.services.actor import Actor, Role
from lemtrada.services.clinics import Clinics
from lemtrada.services.errors import NotFound
from lemtrada.services.lab_results import EXTERNAL_REF, PATIENT_ID, LabIngest, LabObservation
from lemtrada.services.patients import EnrollmentInput, Patients
from lemtrada.storage.ports import PatientRepository
from lemtrada.storage.repository import DynamoPatientRepository

from tests.support.memory import InMemoryDigestPublisher, InMemoryPatientRepository
from tests.unit.storage.tables import moto_regimen_table

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin-1", frozenset({Role.ADMINS}))
CLINICIAN = Actor("clin-1", frozenset({Role.CLINICIANS}), "c1")
LAB = Actor("lab-1", frozenset({Role.LAB_INTERFACES}), "c1")
DAY = date(2026, 11, 20)


@pytest.fixture(params=["memory", "dynamodb"])
def repo(request: pytest.FixtureRequest) -> Iterator[PatientRepository]:
    if request.param == "memory":
        yield InMemoryPatientRepository(due_shards=4)
        return
    with moto_regimen_table() as table:
        yield DynamoPatientRepository(table, region="us-east-1", due_shards=4)


def _setup(repo: PatientRepository) -> tuple[LabIngest, InMemoryDigestPublisher, str]:
    clock = lambda: NOW  # noqa: E731
    Clinics(repo, clock).put_clinic(ADMIN, "c1", name="Lyon", timezone="Europe/Paris", label=Label.US)
    data = EnrollmentInput(
        date(1985, 1, 1), Sex.FEMALE, False, Diagnosis.RELAPSING_REMITTING, 2, frozenset(), external_ref="MRN-7"
    )
    patient_id = Patients(repo, clock).enroll(CLINICIAN, data).patient_id
    publisher = InMemoryDigestPublisher()
    return LabIngest(repo, clock, publisher), publisher, patient_id


def obs(key: str, loinc: str, value: float, unit: str, **changes: object) -> LabObservation:
    fields: dict[str, object] = {
        "ref": key,
        "key": key,
        "subject_system": EXTERNAL_REF,
        "subject": "MRN-7",
        "loinc": loinc,
        "effective": DAY,
        "value": value,
        "unit": unit,
        **changes,
    }
    return LabObservation(**fields)  # type: ignore[arg-type]


def test_a_panel_is_one_result_its_alert_goes_out_and_a_replay_stores_nothing(repo: PatientRepository) -> None:
    service, publisher, patient_id = _setup(repo)
    panel = [obs("a", "777-3", 15, "10*9/L", low=150, high=400), obs("b", "718-7", 12.8, "g/dL")]
    outcomes = service.ingest(LAB, "c1", panel)
    assert [o.status for o in outcomes] == [201, 201]
    assert outcomes[0].findings == ("platelets_below_100",)
    stored = repo.get_patient(patient_id)
    assert stored is not None
    (result,) = stored.record.results
    assert [a.code for a in result.analytes] == ["platelets", "hemoglobin"]
    assert len(publisher.sent) == 1  # the critical alert, before the answer
    again = service.ingest(LAB, "c1", panel)
    assert [(o.status, o.code, o.result_id) for o in again] == [(200, "already_stored", result.result_id)] * 2
    after = repo.get_patient(patient_id)
    assert after is not None
    assert after.version == stored.version
    assert len(publisher.sent) == 1


def test_a_later_delivery_adds_and_a_correction_replaces(repo: PatientRepository) -> None:
    service, _, patient_id = _setup(repo)
    service.ingest(LAB, "c1", [obs("a", "777-3", 15, "10*9/L")])
    (added, duplicate) = service.ingest(LAB, "c1", [obs("b", "751-8", 2.0, "10*9/L"), obs("c", "777-3", 210, "10*9/L")])
    assert (added.status, duplicate.status, duplicate.code) == (201, 422, "analyte_already_recorded")
    (corrected,) = service.ingest(LAB, "c1", [obs("d", "777-3", 210, "10*9/L", status="corrected")])
    assert corrected.status == 201
    stored = repo.get_patient(patient_id)
    assert stored is not None
    (result,) = stored.record.results
    assert [(a.code, a.value) for a in result.analytes] == [("platelets", 210.0), ("neutrophils", 2.0)]
    assert [f.code for f in result.findings] == ["platelets_below_100"]  # a correction withdraws no finding


def test_each_observation_meets_the_rules_on_its_own(repo: PatientRepository) -> None:
    service, _, patient_id = _setup(repo)
    outcomes = service.ingest(
        LAB,
        "c1",
        [
            obs("a", "2345-7", 5, "mmol/L"),
            obs("b", "777-3", 15, "10*9/mL"),
            obs("c", "777-3", -1, "10*9/L"),
            obs("d", "777-3", 15, "10*9/L", effective=date(2026, 11, 25)),
            obs("e", "777-3", 15, "10*9/L", subject="MRN-0"),
            obs("f", "777-3", 15, "10*9/L", subject_system=PATIENT_ID, subject="0" * 32),
            obs("g", "777-3", 15, "10*9/L", status="preliminary"),
            obs("h", "3016-3", 2.0, "m[IU]/L", effective=datetime(2026, 11, 23, 23, 30, tzinfo=UTC)),
        ],
    )
    assert [(o.status, o.code) for o in outcomes] == [
        (422, "unknown_loinc"),
        (422, "unit_not_accepted"),
        (422, "validation_error"),
        (422, "date_in_future"),
        (404, "patient_not_found"),
        (404, "patient_not_found"),
        (200, "status_not_stored"),
        (201, None),
    ]
    stored = repo.get_patient(patient_id)
    assert stored is not None
    (tsh,) = stored.record.results
    assert tsh.date == date(2026, 11, 24)  # 23:30 UTC is the next day in Paris


def test_only_the_clinics_lab_interface(repo: PatientRepository) -> None:
    service, _, _ = _setup(repo)
    for actor in (CLINICIAN, Actor("lab-2", frozenset({Role.LAB_INTERFACES}), "c2")):
        with pytest.raises(NotFound):
            service.ingest(actor, "c1", [obs("a", "777-3", 15, "10*9/L")])
