"""Claims against concurrent deliverers on DynamoDB Local (DESIGN 7): drains racing in threads, each with its own
client, and writers delivering their own alerts while drains run, publish every owed alert exactly once."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from lemtrada.notify.publisher import Message
from lemtrada.regimen.records import Analyte, Diagnosis, Label, ResultItem, Sex
from lemtrada.services.actor import Actor, Role
from lemtrada.services.alerts import AlertDelivery
from lemtrada.services.clinics import Clinics
from lemtrada.services.patients import EnrollmentInput, Patients
from lemtrada.services.recording import Recording, ResultInput
from lemtrada.storage.repository import DynamoPatientRepository

from tests.integration.conftest import DynamoDBTables
from tests.support.memory import InMemoryDigestPublisher

ADMIN = Actor("admin-1", frozenset({Role.ADMINS}))
LOW = (Analyte("platelets", 15, "10*9/L"),)
DRAINS = 8


class SharedPublisher(InMemoryDigestPublisher):
    """One topic for every thread: publishes are counted under a lock."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def publish(self, message: Message) -> str:
        with self.lock:
            return super().publish(message)

    def finding_ids(self) -> Counter[str]:
        return Counter(s.digest["finding_id"] for s in self.sent if s.attributes["kind"] == "alert")


def _repo(tables: DynamoDBTables) -> DynamoPatientRepository:
    return DynamoPatientRepository(tables.table_name, region="us-east-1", host=tables.endpoint)


def _clinic(tables: DynamoDBTables) -> tuple[str, Actor]:
    clinic_id = f"claims-{uuid.uuid4().hex[:8]}"
    Clinics(_repo(tables), lambda: datetime.now(UTC)).put_clinic(
        ADMIN, clinic_id, name="Claims", timezone="UTC", label=Label.US
    )
    return clinic_id, Actor("clin-1", frozenset({Role.CLINICIANS}), clinic_id)


def _enroll(repo: DynamoPatientRepository, clinician: Actor) -> str:
    data = EnrollmentInput(date(1985, 5, 1), Sex.MALE, False, Diagnosis.RELAPSING_REMITTING, 2, frozenset())
    return Patients(repo, lambda: datetime.now(UTC)).enroll(clinician, data).patient_id


def _run_together(targets: list[threading.Thread]) -> None:
    for thread in targets:
        thread.start()
    for thread in targets:
        thread.join(timeout=120)
        assert not thread.is_alive()


def test_concurrent_drains_publish_each_owed_alert_once(dynamodb_local: DynamoDBTables) -> None:
    clinic_id, clinician = _clinic(dynamodb_local)
    repo = _repo(dynamodb_local)
    refused = InMemoryDigestPublisher(fail_next=30)  # SNS refuses every writer: 30 alerts left to the drains
    recording = Recording(repo, lambda: datetime.now(UTC), refused)
    expected = set()
    for _ in range(30):
        pid = _enroll(repo, clinician)
        recorded = recording.record_result(clinician, pid, ResultInput(ResultItem.CBC, date.today(), analytes=LOW))
        expected.add(recorded.findings[0].finding_id)
    assert len(repo.owed_alerts(clinic_id)) == 30
    publisher = SharedPublisher()
    start = threading.Barrier(DRAINS)
    now = datetime.now(UTC)
    reports = []

    def drain() -> None:
        delivery = AlertDelivery(_repo(dynamodb_local), publisher)  # a client of its own, as another Lambda
        start.wait()
        reports.append(delivery.drain(clinic_id, now))

    _run_together([threading.Thread(target=drain) for _ in range(DRAINS)])
    assert publisher.finding_ids() == Counter(dict.fromkeys(expected, 1))
    assert sum(len(r.sent) for r in reports) == 30
    assert sum(r.held for r in reports) >= 1  # they did race: some lost claims
    assert repo.owed_alerts(clinic_id) == ()


def test_writers_and_drains_racing_publish_each_alert_once(dynamodb_local: DynamoDBTables) -> None:
    clinic_id, clinician = _clinic(dynamodb_local)
    repo = _repo(dynamodb_local)
    patients = [_enroll(repo, clinician) for _ in range(12)]
    publisher = SharedPublisher()
    stop = threading.Event()
    found: list[str] = []

    def write(pid: str) -> None:
        recording = Recording(_repo(dynamodb_local), lambda: datetime.now(UTC), publisher)
        for day in (1, 2):
            data = ResultInput(ResultItem.CBC, date.today() - timedelta(days=day), analytes=LOW)
            found.append(recording.record_result(clinician, pid, data).findings[0].finding_id)

    def drain() -> None:
        delivery = AlertDelivery(_repo(dynamodb_local), publisher)
        while not stop.is_set():
            delivery.drain_all(datetime.now(UTC))

    drains = [threading.Thread(target=drain) for _ in range(3)]
    for thread in drains:
        thread.start()
    _run_together([threading.Thread(target=write, args=(pid,)) for pid in patients])
    stop.set()
    for thread in drains:
        thread.join(timeout=60)
    assert len(found) == 24
    assert publisher.finding_ids() == Counter(dict.fromkeys(found, 1))  # the writers' claims kept the drains off
    assert repo.owed_alerts(clinic_id) == ()
