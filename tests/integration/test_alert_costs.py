"""What an alert costs in DynamoDB write units, measured on DynamoDB Local (DESIGN 7):
a CBC with platelets at 15 against one with normal platelets, through the real use case and repository."""

from __future__ import annotations

from datetime import UTC, date, datetime

from lemtrada.regimen.records import Analyte, Diagnosis, Label, ResultItem, Sex
from lemtrada.services.actor import Actor, Role
from lemtrada.services.clinics import Clinics
from lemtrada.services.patients import EnrollmentInput, Patients
from lemtrada.services.recording import Recording, ResultInput
from lemtrada.storage.repository import DynamoPatientRepository

from tests.integration.conftest import DynamoDBTables
from tests.support.memory import InMemoryDigestPublisher

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin-1", frozenset({Role.ADMINS}))
CLINICIAN = Actor("clin-1", frozenset({Role.CLINICIANS}), "alert-costs")
WRITES = 50


def _enroll(patients: Patients) -> str:
    data = EnrollmentInput(date(1985, 5, 1), Sex.MALE, False, Diagnosis.RELAPSING_REMITTING, 2, frozenset())
    return patients.enroll(CLINICIAN, data).patient_id


def test_an_alert_costs_three_write_units_besides_the_worklist_counter(dynamodb_local: DynamoDBTables) -> None:
    repo = DynamoPatientRepository(dynamodb_local.table_name, region="us-east-1", host=dynamodb_local.endpoint)
    clock = lambda: NOW  # noqa: E731
    Clinics(repo, clock).put_clinic(ADMIN, "alert-costs", name="Costs", timezone="Europe/Paris", label=Label.US)
    publisher = InMemoryDigestPublisher()
    recording = Recording(repo, clock, publisher)
    figures: dict[float, float] = {}
    index_units: dict[float, dict[str, float]] = {}
    for platelets in (250.0, 15.0):
        units = 0.0
        index_units[platelets] = {}
        for _ in range(WRITES):
            pid = _enroll(Patients(repo, clock))
            cbc = (Analyte("platelets", platelets, "10*9/L"),)
            data = ResultInput(ResultItem.CBC, date(2026, 11, 20), analytes=cbc)
            repo.capacity.reset()
            recording.record_result(CLINICIAN, pid, data)
            units += repo.capacity.write_units
            for index, used in repo.capacity.by_index.items():
                index_units[platelets][index] = index_units[platelets].get(index, 0.0) + used / WRITES
        figures[platelets] = units / WRITES
    assert len([s for s in publisher.sent if s.attributes["kind"] == "alert"]) == WRITES
    assert repo.owed_alerts("alert-costs") == ()
    extra_units = figures[15.0] - figures[250.0]
    print(
        f"\nwrite units per result: normal {figures[250.0]:.1f} {index_units[250.0]}, critical {figures[15.0]:.1f}"
        f" {index_units[15.0]} (+{extra_units:.1f})"
    )
    # A normal result leaves the worklist and the due date alone: no index is written (the clinic's patients
    # index holds keys only, so the profile's new version does not rewrite it).
    assert index_units[250.0] == {}
    # The alert: a Put in the transaction (2 units, under 1 KB) and the DeleteItem (1 unit). The critical finding
    # also lands on the worklist, so the clinic's counter item of the patient's shard moves (2 units in the
    # transaction), the patient enters the WorklistIndex and the sweep's next check moves to the day the finding
    # leaves the 30-day window (DueIndex), where the normal result's do not.
    assert set(index_units[15.0]) <= {"WorklistIndex", "DueIndex"}
    assert extra_units - sum(index_units[15.0].values()) <= 3.0 + 2.0
