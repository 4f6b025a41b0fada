"""The repository on DynamoDB Local (AWS's own engine): the contract, a real race, and the due index's cost."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import date

import pytest
from lemtrada.storage.ports import AlreadyExists, StorageError, VersionConflict
from lemtrada.storage.repository import DynamoPatientRepository

from tests.integration.conftest import DynamoDBTables
from tests.unit.storage import factories as f
from tests.unit.storage.contract import RepositoryContract
from tests.unit.storage.tables import create_regimen_table

pytestmark = pytest.mark.integration
SHARDS = 4


def repository(tables: DynamoDBTables, table_name: str | None = None, shards: int = SHARDS) -> DynamoPatientRepository:
    return DynamoPatientRepository(
        table_name or tables.table_name, host=tables.endpoint, region="us-east-1", due_shards=shards
    )


class TestDynamoRepositoryOnDynamoDBLocal(RepositoryContract):
    @pytest.fixture
    def repo(self, dynamodb_local: DynamoDBTables) -> DynamoPatientRepository:
        return repository(dynamodb_local)


def test_racing_infusions_on_one_date_store_exactly_one(dynamodb_local: DynamoDBTables) -> None:
    repo = repository(dynamodb_local)
    patient = f.stored()
    pid = patient.patient_id
    repo.create_patient(patient, f.audit())
    threads_count = 12
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def record(number: int) -> None:
        infusion = f.infusion(date(2026, 1, 10), number=number)
        barrier.wait()
        try:
            repo.add_infusion(pid, infusion, 1, date(2026, 1, 11), f.audit("infusion.recorded"))
            outcome = "stored"
        except AlreadyExists as exists:
            outcome = f"exists:{exists.what}"
        except VersionConflict:
            outcome = "conflict"
        except StorageError as error:  # pragma: no cover - would be a mapping bug
            outcome = f"other:{error!r}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=record, args=(n + 1,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    counts = Counter(outcomes)
    assert counts["stored"] == 1, counts
    assert set(counts) <= {"stored", "exists:infusion", "conflict"}, counts
    assert sum(counts.values()) == threads_count
    got = repo.get_patient(pid)
    assert got is not None
    assert got.version == 2
    assert len(got.record.infusions) == 1
    assert len(repo.audit_trail(pid)) == 2


def test_due_patients_costs_what_the_due_rows_cost(dynamodb_local: DynamoDBTables) -> None:
    """Many enrolled, few due: the sweep's index reads do not grow with the enrolled ones."""
    table = f"regimen-due-{uuid.uuid4().hex[:8]}"
    create_regimen_table(dynamodb_local.client, table)
    repo = repository(dynamodb_local, table, shards=16)
    clinic_id = f.uid("clinic")
    through = date(2026, 2, 1)

    def sweep_cost() -> tuple[set[str], float, int]:
        repo.capacity.reset()
        found = {e.patient_id for shard in range(repo.due_shards) for e in repo.due_patients(shard, through)}
        return found, repo.capacity.by_operation.get("due_patients", 0.0), repo.capacity.calls.get("due_patients", 0)

    due = [f.stored(f.profile(clinic_id=clinic_id), next_check=date(2026, 1, 20 + n)) for n in range(5)]
    for patient in due:
        repo.create_patient(patient, f.audit())
    found, cost_few, calls = sweep_cost()
    assert found == {p.patient_id for p in due}
    assert calls == 16

    for n in range(300):
        later = date(2026, 3, 1) if n % 2 else None
        repo.create_patient(f.stored(f.profile(clinic_id=clinic_id), next_check=later), f.audit())
    found, cost_many, _ = sweep_cost()
    assert found == {p.patient_id for p in due}
    assert cost_many == cost_few
    # One page per shard, each far under 4 KB: half a read unit per shard (eventually consistent index reads).
    assert cost_many <= 16 * 0.5
    print(f"due_patients over 16 shards, 5 due among 305: {cost_many} RCU")

    repo.capacity.reset()
    for patient in due:
        repo.get_patient(patient.patient_id)
    per_record = repo.capacity.by_operation["get_patient"] / len(due)
    print(f"get_patient (profile only, strongly consistent): {per_record} RCU per due patient")
    assert per_record <= 1.0
