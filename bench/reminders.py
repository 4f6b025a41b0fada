"""The hourly reminder run (DESIGN 9) for patients with devices: wall time, pushes per second, units per push.

DynamoDB Local holds the table (its ``ConsumedCapacity`` gives read and write units); SNS is moto in process
(``mock_aws`` for SNS only: platform applications, one endpoint per patient, every push published to it). The
patients finished course 1 five weeks earlier, so on the day their first monthly window opens each is owed one
push; they are spread over 10 clinics of one time zone, reminded at 09:00. Seeding writes the items directly
(BatchWriteItem), the run is the product's ``ReminderRun`` on ``DynamoReminderStore`` and ``SnsPushGateway``.

    .venv/bin/python -m bench.reminders [--patients 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT / "layers" / "core") not in sys.path:
    sys.path.insert(0, str(_ROOT / "layers" / "core"))

import boto3  # noqa: E402
from lemtrada.notify.push import SnsPushGateway  # noqa: E402
from lemtrada.regimen.records import Clinic, Label  # noqa: E402
from lemtrada.services.reminders import ReminderRun, token_hash  # noqa: E402
from lemtrada.storage import codec, keys  # noqa: E402
from lemtrada.storage.ports import AuditEntry, Device, StoredPatient  # noqa: E402
from lemtrada.storage.reminders import REMINDERS_SK, DynamoReminderStore, _devices_json, remind_pk  # noqa: E402
from lemtrada.storage.repository import DynamoPatientRepository  # noqa: E402
from lemtrada.storage.wire import item_key, wire  # noqa: E402

from bench.localdb import REGION, LocalDynamo, local_dynamodb  # noqa: E402
from tests.unit.regimen.helpers import treated  # noqa: E402

CLINICS = 10
ZONE = "Europe/Paris"
AUDIT = AuditEntry("bench", "admins", datetime(2026, 1, 1, tzinfo=UTC), "bench", "bench")
WINDOW = datetime(2026, 2, 8, 8, 5, tzinfo=UTC)  # 09:05 in Paris on the day the first window opens


@dataclass(frozen=True)
class Measured:
    patients: int
    pushes: int
    seconds: float
    read_units: float
    write_units: float

    def line(self) -> str:
        per = max(self.pushes, 1)
        return (
            f"{self.patients:,} patients with a device, {CLINICS} clinics: {self.pushes:,} pushes in"
            f" {self.seconds:.1f} s ({self.pushes / self.seconds:.0f} pushes/s);"
            f" {self.read_units / per:.2f} RCU and {self.write_units / per:.2f} WCU per push"
            f" (run total {self.read_units:.0f} RCU, {self.write_units:.0f} WCU)"
        )


def _seed(client: Any, table: str, patients: int, sns: Any, applications: dict[str, str]) -> None:
    record = treated("2026-01-15")
    batch: list[dict[str, Any]] = []

    def put(item: dict[str, Any]) -> None:
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            flush()

    def flush() -> None:
        pending = {table: list(batch)}
        batch.clear()
        while pending:
            answer = client.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}

    for n in range(CLINICS):
        put(codec.clinic_item(Clinic(f"c{n}", f"Clinic {n}", ZONE, Label.US, 6, 9), 1))
    for i in range(patients):
        pid, clinic_id = f"p{i:06d}", f"c{i % CLINICS}"
        profile = replace(record.profile, patient_id=pid, clinic_id=clinic_id)
        stored = StoredPatient(replace(record, profile=profile), 1, datetime(2026, 1, 1, tzinfo=UTC))
        for item in codec.patient_items(stored, keys.DEFAULT_DUE_SHARDS):
            put(item)
        token = f"token-{i:06d}"
        platform = "apns" if i % 2 else "fcm"
        # as PUT /me/devices registers it: the endpoint's CustomUserData names its patient and device
        arn = SnsPushGateway(applications, client=sns).create_endpoint(platform, token, f"{pid}/phone")
        device = Device("phone", platform, arn, token_hash(platform, token), datetime(2026, 1, 1, tzinfo=UTC))
        put(
            {
                **item_key(keys.patient_pk(pid), REMINDERS_SK),
                "version": wire(1),
                "cl": wire(clinic_id),
                "dv": wire(_devices_json([device])),
            }
        )
        put(item_key(remind_pk(clinic_id), pid))
    if batch:
        flush()


def measure(db: LocalDynamo, patients: int) -> Measured:
    from moto import mock_aws  # noqa: PLC0415

    table = db.regimen_table("reminders")
    with mock_aws():  # SNS in process; DynamoDB Local is on loopback, outside what moto intercepts
        sns = boto3.client("sns", region_name=REGION)
        applications = {
            "apns": sns.create_platform_application(Name="ios", Platform="APNS", Attributes={})[
                "PlatformApplicationArn"
            ],
            "fcm": sns.create_platform_application(Name="android", Platform="GCM", Attributes={})[
                "PlatformApplicationArn"
            ],
        }
        _seed(db.client, table, patients, sns, applications)
        repository = DynamoPatientRepository(table, region=REGION, client=db.client)
        store = DynamoReminderStore(table, client=db.client)
        gateway = SnsPushGateway(applications, client=sns)
        run = ReminderRun(repository, store, gateway)
        started = time.perf_counter()
        summary = run.run(WINDOW, "bench")
        seconds = time.perf_counter() - started
    db.drop(table)
    reads = store.capacity.read_units + repository.capacity.read_units
    writes = store.capacity.write_units + repository.capacity.write_units
    return Measured(patients, summary.pushed, seconds, reads, writes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args(argv)
    with local_dynamodb() as db:
        result = measure(db, args.patients)
    print(result.line())
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
