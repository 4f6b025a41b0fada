"""Lab results in (DESIGN 10): ingest throughput and write units per observation.

1. Through the local stack (``python -m local``: DynamoDB Local, moto SNS, the real lab function, HTTP front):
   a clinic of ``patients`` patients (each with its external_ref); one FHIR ``batch`` Bundle of 500 Observations
   (each patient's CBC of five analytes on one date: 100 patients, one result each), then 500 ORU^R01 messages,
   each one CBC panel of five OBX for one patient and date (500 results, 2,500 observations), sent one after the
   other. Reports observations per second (wall time of the requests) for each.
2. Units per observation, in process on DynamoDB Local (the real LabIngest and DynamoDB repository,
   ``ReturnConsumedCapacity``): the same 500-observation Bundle (grouped: one write per result), the same
   observations delivered one per request (each adds one analyte to its result: the worst case), and the Bundle
   delivered again (a replay: receipts read, nothing written).

    .venv/bin/python -m bench.lab_ingest [--patients 100] [--messages 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from bench.alert_latency import _start_stack, _token
from bench.localdb import free_port, local_dynamodb
from bench.write_latency import ROOT

# Run as ``python -m bench.lab_ingest`` from the repository root: the layer's packages live in layers/core.
for _path in (str(ROOT / "layers" / "core"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

REGION = "us-east-1"
PANEL: tuple[tuple[str, str, float, str, float, float], ...] = (
    ("777-3", "Platelets", 250.0, "10*9/L", 150, 400),
    ("751-8", "Neutrophils", 3.1, "10*9/L", 1.8, 7.5),
    ("731-0", "Lymphocytes", 1.6, "10*9/L", 1.0, 4.0),
    ("6690-2", "Leukocytes", 6.2, "10*9/L", 4.0, 10.0),
    ("718-7", "Hemoglobin", 13.4, "g/dL", 12.0, 16.0),
)
ENROLLMENT = {
    "birth_date": "1985-01-01",
    "sex": "female",
    "reproductive_potential": False,
    "diagnosis": "relapsing_remitting",
    "prior_dmt_count": 2,
    "contraindications": [],
}


def observation(ref: str, day: date, analyte: tuple[str, str, float, str, float, float]) -> dict[str, Any]:
    code, _, value, unit, low, high = analyte
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:oid:1.2.250.1.999.1", "value": f"LAB-{uuid.uuid4().hex}"}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"identifier": {"system": "urn:lemtrada:external-ref", "value": ref}},
        "effectiveDateTime": day.isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        "referenceRange": [{"low": {"value": low}, "high": {"value": high}}],
    }


def bundle(refs: list[str], day: date, total: int = 500) -> dict[str, Any]:
    """``total`` Observations: each patient's panel in turn (five per patient) until there are ``total``."""
    entries = []
    for number in range(total):
        ref = refs[(number // len(PANEL)) % len(refs)]
        entries.append({"resource": observation(ref, day, PANEL[number % len(PANEL)])})
    return {"resourceType": "Bundle", "type": "batch", "entry": entries}


def oru(ref: str, day: date, control: str) -> str:
    stamp = day.strftime("%Y%m%d") + "0800"
    segments = [
        f"MSH|^~\\&|BENCHLAB|BENCH|LEMTRADA|bench|{stamp}||ORU^R01^ORU_R01|{control}|P|2.5",
        f"PID|1||{ref}^^^BENCH^MR",
        f"OBR|1|||58410-2^CBC panel^LN|||{stamp}",
    ]
    for number, (code, text, value, unit, low, high) in enumerate(PANEL, start=1):
        segments.append(f"OBX|{number}|NM|{code}^{text}^LN||{value:g}|{unit}^^UCUM|{low:g}-{high:g}|N|||F")
    return "\r".join(segments) + "\r"


@dataclass
class StackFigures:
    bundle_observations: int
    bundle_seconds: float
    messages: int
    message_observations: int
    messages_seconds: float


def measure_stack(patients: int, messages: int) -> StackFigures:
    port, dynamodb_port, sns_port = free_port(), free_port(), free_port()
    process = _start_stack(port, dynamodb_port, sns_port)
    base = f"http://127.0.0.1:{port}"
    try:
        clinic_id = f"bench-{uuid.uuid4().hex[:6]}"
        admin, clinician = _token(base, "admins"), _token(base, "clinicians", clinic_id)
        lab = _token(base, "lab_interfaces", clinic_id)
        clinic = {"name": "Bench", "timezone": "UTC", "label": "US"}
        requests.put(f"{base}/clinics/{clinic_id}", json=clinic, headers=admin, timeout=10).raise_for_status()
        session = requests.Session()
        refs = [f"BENCH-{n:05d}" for n in range(patients)]
        for ref in refs:
            body = {**ENROLLMENT, "external_ref": ref}
            session.post(f"{base}/patients", json=body, headers=clinician, timeout=10).raise_for_status()
        url = f"{base}/clinics/{clinic_id}/lab-results"
        today = datetime.now(UTC).date()
        document = json.dumps(bundle(refs, today - timedelta(days=1)))
        started = time.perf_counter()
        reply = session.post(url, data=document, headers={**lab, "Content-Type": "application/fhir+json"}, timeout=60)
        bundle_seconds = time.perf_counter() - started
        assert reply.status_code == 200, reply.text[:500]
        statuses = [e["response"]["status"] for e in reply.json()["entry"]]
        assert statuses == ["201 Created"] * 500, statuses[:5]
        started = time.perf_counter()
        for number in range(messages):
            ref = refs[number % len(refs)]
            day = today - timedelta(days=2 + number // len(refs))
            text = oru(ref, day, f"BENCH-{number:06d}")
            headers = {**lab, "Content-Type": "application/hl7-v2"}
            answer = session.post(url, data=text.encode(), headers=headers, timeout=30)
            assert answer.status_code == 200, answer.text[:300]
            assert "\rMSA|AA|" in answer.text, answer.text[:300]
        messages_seconds = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(30)
    return StackFigures(500, bundle_seconds, messages, messages * len(PANEL), messages_seconds)


@dataclass
class UnitFigures:
    observations: int
    grouped_write: float  # write units per observation, the Bundle grouped into results
    grouped_read: float
    single_write: float  # each observation its own delivery
    single_read: float
    replay_write: float
    replay_read: float


def measure_units(patients: int) -> UnitFigures:
    """Units per observation, in process on DynamoDB Local."""
    from lemtrada.regimen.records import Diagnosis, Label, Sex  # noqa: PLC0415
    from lemtrada.services.actor import Actor, Role  # noqa: PLC0415
    from lemtrada.services.clinics import Clinics  # noqa: PLC0415
    from lemtrada.services.lab_results import LabIngest, LabObservation  # noqa: PLC0415
    from lemtrada.services.patients import EnrollmentInput, Patients  # noqa: PLC0415
    from lemtrada.storage.repository import DynamoPatientRepository  # noqa: PLC0415
    from lemtrada.web import lab_fhir  # noqa: PLC0415

    with local_dynamodb() as db:
        table = db.regimen_table("lab")
        repo = DynamoPatientRepository(table, region=REGION, host=db.endpoint)
        clock = lambda: datetime.now(UTC)  # noqa: E731
        admin = Actor("admin", frozenset({Role.ADMINS}))
        Clinics(repo, clock).put_clinic(admin, "units", name="Units", timezone="UTC", label=Label.US)
        clinician = Actor("clin", frozenset({Role.CLINICIANS}), "units")
        lab = Actor("lab", frozenset({Role.LAB_INTERFACES}), "units")
        refs = [f"UNITS-{n:05d}" for n in range(patients)]
        for ref in refs:
            data = EnrollmentInput(
                date(1985, 1, 1), Sex.FEMALE, False, Diagnosis.RELAPSING_REMITTING, 2, frozenset(), external_ref=ref
            )
            Patients(repo, clock).enroll(clinician, data)
        service = LabIngest(repo, clock)
        today = datetime.now(UTC).date()

        def run(document: dict[str, Any], one_by_one: bool) -> tuple[float, float]:
            parsed = lab_fhir.parse_document(json.dumps(document), 1000)
            observations = [o for o in parsed if isinstance(o, LabObservation)]
            writes, reads = repo.capacity.write_units, repo.capacity.read_units
            batches = [[o] for o in observations] if one_by_one else [observations]
            for batch in batches:
                outcomes = service.ingest(lab, "units", batch)
                assert all(o.status in (200, 201) for o in outcomes), outcomes[:3]
            count = len(observations)
            return (repo.capacity.write_units - writes) / count, (repo.capacity.read_units - reads) / count

        grouped = bundle(refs, today - timedelta(days=1))
        grouped_units = run(grouped, one_by_one=False)
        replay_units = run(grouped, one_by_one=False)
        single_units = run(bundle(refs, today - timedelta(days=2)), one_by_one=True)
        db.drop(table)
    return UnitFigures(500, *grouped_units, *single_units, *replay_units)


def report(stack: StackFigures | None, units: UnitFigures) -> str:
    lines = []
    if stack is not None:
        lines.append(
            f"local stack, one FHIR Bundle of {stack.bundle_observations} Observations: {stack.bundle_seconds:.2f} s,"
            f" {stack.bundle_observations / stack.bundle_seconds:.0f} observations/s"
        )
        lines.append(
            f"local stack, {stack.messages} ORU^R01 messages ({stack.message_observations} OBX), one after the other:"
            f" {stack.messages_seconds:.2f} s, {stack.message_observations / stack.messages_seconds:.0f}"
            f" observations/s, {stack.messages / stack.messages_seconds:.1f} messages/s"
        )
    lines.append(
        f"units per observation (DynamoDB Local, {units.observations} observations):"
        f" Bundle grouped {units.grouped_write:.2f} WCU + {units.grouped_read:.2f} RCU;"
        f" one per request {units.single_write:.2f} WCU + {units.single_read:.2f} RCU;"
        f" the Bundle again {units.replay_write:.2f} WCU + {units.replay_read:.2f} RCU"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--units-only", action="store_true", help="skip the local stack")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    stack = None if args.units_only else measure_stack(args.patients, args.messages)
    units = measure_units(args.patients)
    print(report(stack, units), flush=True)
    print(f"(bench took {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
