"""Lab deliveries (DESIGN 10) on DynamoDB Local: exactly once per lab identifier under concurrent deliveries, and a
panel split over messages racing in ends up as one result with every analyte."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from lemtrada.services.actor import Actor, Role
from lemtrada.services.lab_results import EXTERNAL_REF, LabIngest, LabObservation, LabOutcome
from lemtrada.storage.repository import DynamoPatientRepository

from tests.integration.conftest import DynamoDBTables
from tests.unit.storage import factories as f

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
DAY = date(2026, 11, 20)
PANEL = (("777-3", 15.0, "10*9/L"), ("751-8", 2.1, "10*9/L"), ("731-0", 1.2, "10*9/L"), ("718-7", 12.8, "g/dL"))


def setup(tables: DynamoDBTables) -> tuple[LabIngest, Actor, str, str]:
    repo = DynamoPatientRepository(tables.table_name, host=tables.endpoint, region="us-east-1", due_shards=16)
    clinic = f.clinic()
    repo.save_clinic(clinic, None, f.audit("clinic.created"))
    patient = f.stored(f.profile(clinic_id=clinic.clinic_id))
    external_ref = f.uid("MRN")
    repo.create_patient(replace(patient, external_ref=external_ref), f.audit("patient.enrolled"))
    actor = Actor(sub="lab-1", groups=frozenset({Role.LAB_INTERFACES}), clinic_id=clinic.clinic_id)
    return LabIngest(repo, lambda: NOW), actor, clinic.clinic_id, external_ref


def observation(key: str, ref: str, loinc: str, value: float, unit: str) -> LabObservation:
    return LabObservation(f"obs {key}", key, EXTERNAL_REF, ref, loinc, DAY, value, unit)


def race(count: int, deliver: object) -> list[list[LabOutcome]]:
    barrier = threading.Barrier(count)
    answers: list[list[LabOutcome]] = []
    lock = threading.Lock()

    def run(number: int) -> None:
        barrier.wait()
        answer = deliver(number)  # type: ignore[operator]
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == count
    return answers


def test_the_same_delivery_eight_times_at_once_is_stored_once(dynamodb_local: DynamoDBTables) -> None:
    service, actor, clinic_id, ref = setup(dynamodb_local)
    panel = [observation(f"lab|{n}", ref, loinc, value, unit) for n, (loinc, value, unit) in enumerate(PANEL)]
    answers = race(8, lambda _: service.ingest(actor, clinic_id, panel))
    firsts = Counter(tuple(o.status for o in answer) for answer in answers)
    created = [o for answer in answers for o in answer if o.status == 201]
    assert len(created) == len(PANEL), firsts  # each observation stored by exactly one delivery
    assert all(o.status in (200, 201) for answer in answers for o in answer), firsts
    pid = created[0].patient_id
    assert pid is not None
    stored = service.repository.get_patient(pid)
    assert stored is not None
    (result,) = stored.record.results
    assert sorted(a.code for a in result.analytes) == ["hemoglobin", "lymphocytes", "neutrophils", "platelets"]
    assert [f.code for f in result.findings] == ["platelets_below_100"]
    assert len(service.repository.audit_trail(pid)) == 2  # the enrollment and one lab write
    receipts = service.repository.lab_receipts(clinic_id, [o.key for o in panel])
    assert {r.result_id for r in receipts.values()} == {result.result_id}


def test_a_panel_split_over_racing_messages_makes_one_result(dynamodb_local: DynamoDBTables) -> None:
    service, actor, clinic_id, ref = setup(dynamodb_local)

    def deliver(number: int) -> list[LabOutcome]:
        loinc, value, unit = PANEL[number]
        return service.ingest(actor, clinic_id, [observation(f"msg-{number}|1", ref, loinc, value, unit)])

    answers = race(len(PANEL), deliver)
    assert sorted(answer[0].status for answer in answers) == [201] * len(PANEL)
    assert len({answer[0].result_id for answer in answers}) == 1
    pid = answers[0][0].patient_id
    assert pid is not None
    stored = service.repository.get_patient(pid)
    assert stored is not None
    (result,) = stored.record.results
    assert len(result.analytes) == len(PANEL)
    assert stored.version == 1 + len(PANEL)
