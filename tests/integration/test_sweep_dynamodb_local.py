"""The sweep on DynamoDB Local: many patients enrolled, few due; the worker reads only the due ones.

Prints what a sweep read per due patient (items and read capacity units) for the report and DECISIONS.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import boto3
import pytest
from lemtrada.regimen import next_check, protocol_for
from lemtrada.regimen.records import Clinic, Deviation, Label, PatientRecord, Severity
from lemtrada.services.sweep import SweepService, run_in_process
from lemtrada.storage.outbox import DynamoOutbox
from lemtrada.storage.repository import DynamoPatientRepository

from tests.integration.conftest import DynamoDBTables
from tests.support.memory import InMemoryDigestPublisher
from tests.unit.storage import factories as f
from tests.unit.storage.tables import create_regimen_table

pytestmark = pytest.mark.integration
PROTOCOL = protocol_for(Label.US)
DUE, NOT_DUE, NEVER = 20, 300, 100
SWEEP_DAY = date(2026, 1, 20)


def test_the_worker_reads_only_due_patients_and_delivers_once(dynamodb_local: DynamoDBTables) -> None:
    table = f"regimen-sweep-{uuid.uuid4().hex[:8]}"
    create_regimen_table(dynamodb_local.client, table)
    repo = DynamoPatientRepository(table, host=dynamodb_local.endpoint, region="us-east-1", due_shards=16)
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint, region_name="us-east-1")
    outbox = DynamoOutbox(table, client=client)
    publisher = InMemoryDigestPublisher()
    clinic_id = f.uid("clinic")
    repo.save_clinic(Clinic(clinic_id, "Line Islands MS", "Pacific/Kiritimati", Label.US), None, f.audit())

    due_ids = set()
    for n in range(DUE + NOT_DUE + NEVER):
        profile = f.profile(clinic_id=clinic_id)
        infusion = replace(f.infusion(date(2026, 1, 10)), deviations=())
        if n < DUE:  # a deviation recorded: owed from the infusion date
            infusion = replace(infusion, deviations=(Deviation("dose_not_12mg", Severity.MAJOR),))
            due_ids.add(profile.patient_id)
        infusions = (infusion,) if n < DUE + NOT_DUE else ()
        record = PatientRecord(profile=profile, infusions=infusions)
        upcoming = next_check(record, frozenset(), PROTOCOL)
        assert (upcoming is not None and upcoming <= SWEEP_DAY) == (n < DUE)
        repo.create_patient(replace(f.stored(profile, infusions=infusions), next_check=upcoming), f.audit())

    service = SweepService(repo, outbox, publisher)
    repo.capacity.reset()
    _, reports, published = run_in_process(service, {"date": SWEEP_DAY.isoformat()})

    assert sum(r.index_rows for r in reports) == DUE
    assert sum(r.examined for r in reports) == DUE
    assert {i["patient_id"] for s in publisher.sent for i in s.digest["items"]} == due_ids
    assert [d.clinic_id for d in published.sent] == [clinic_id]

    index_units = repo.capacity.by_operation.get("due_patients", 0.0)
    record_units = repo.capacity.by_operation.get("get_patient", 0.0)
    items_per_patient = 1 + 2  # its index row, then its record: profile and one infusion (no audit items)
    print(
        f"\nsweep of {DUE} due among {DUE + NOT_DUE + NEVER} patients: index {index_units} RCU over 16 shards, "
        f"records {record_units} RCU; per due patient {(index_units + record_units) / DUE:.2f} RCU and "
        f"{items_per_patient} items; outbox pending query {outbox.read_units} RCU; "
        f"all reads {repo.capacity.read_units + outbox.read_units} RCU"
    )
    assert index_units <= 16 * 0.5
    assert record_units / DUE <= 1.0

    # Writes: one transaction per due patient (profile, the month's marks and sweep audit, the outbox page) and the
    # pages' deletes at publish; of them, what the profile's two indexes cost.
    writes = repo.capacity.write_units + outbox.capacity.write_units
    notices = sum(len(sent.digest["items"]) for sent in publisher.sent)
    per_index = {name: units / DUE for name, units in sorted(repo.capacity.by_index.items())}
    print(
        f"sweep writes: {writes} WCU for {DUE} due patients and {notices} notices = {writes / DUE:.2f} per due patient"
        f" (record_sweep {repo.capacity.by_operation.get('record_sweep', 0.0) / DUE:.2f}, publish"
        f" {outbox.capacity.write_units / DUE:.2f}); index writes per due patient {per_index}"
    )
    assert repo.capacity.calls["record_sweep"] == DUE  # one transaction each
    assert writes / DUE <= 14.0

    # A re-run of the same date reads an empty index and sends nothing.
    repo.capacity.reset()
    _, reports, published = run_in_process(service, {"date": SWEEP_DAY.isoformat()})
    assert sum(r.index_rows for r in reports) == 0
    assert published.sent == []
    assert repo.capacity.by_operation.get("get_patient", 0.0) == 0.0
