"""Latency of an infusion write through the local stack against a bare PutItem on the same DynamoDB Local.

Starts ``python -m local`` (in-memory DynamoDB Local, free ports), enrolls patients over HTTP, then times
``POST /patients/{id}/infusions`` end to end (HTTP front, JWT check, handler, rules, one transaction) and, on the
same DynamoDB Local in the same run, a bare ``PutItem`` of a small item. Prints the medians and their ratio.

    .venv/bin/python -m bench.write_latency [--writes N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
READY = "Local stack ready:"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(port: int, dynamodb_port: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "local",
        "--port",
        str(port),
        "--dynamodb-port",
        str(dynamodb_port),
        "--sns-port",
        str(_free_port()),
        "--in-memory",
        "--quiet",
    ]
    env = {name: value for name, value in os.environ.items() if name != "PORT"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if line.startswith(READY):
            return process
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the local stack did not start")


def _token(base: str, role: str, clinic_id: str | None = None) -> dict[str, str]:
    body = {"role": role, **({"clinic_id": clinic_id} if clinic_id else {})}
    token = requests.post(f"{base}/_local/token", json=body, timeout=10).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _infusion(day: str) -> dict[str, object]:
    return {
        "date": day,
        "dose_mg": 12,
        "diluted_at": f"{day}T08:00:00+00:00",
        "started_at": f"{day}T08:30:00+00:00",
        "ended_at": f"{day}T12:45:00+00:00",
        "route": "iv_infusion",
        "co_infused": False,
        "methylprednisolone_mg": 1000,
        "antiviral_prophylaxis": True,
        "observation_minutes": 120,
        "batch_number": "BENCH-1",
    }


def measure(writes: int) -> dict[str, float]:
    """Median milliseconds of both writes, measured in one run of the local stack."""
    port, dynamodb_port = _free_port(), _free_port()
    process = _start(port, dynamodb_port)
    base = f"http://127.0.0.1:{port}"
    try:
        clinic_id = f"bench-{uuid.uuid4().hex[:6]}"
        admin, clinician = _token(base, "admins"), _token(base, "clinicians", clinic_id)
        clinic = {"name": "Bench", "timezone": "UTC", "label": "US"}
        requests.put(f"{base}/clinics/{clinic_id}", json=clinic, headers=admin, timeout=10).raise_for_status()
        enrollment = {
            "birth_date": "1985-01-01",
            "sex": "male",
            "reproductive_potential": False,
            "diagnosis": "relapsing_remitting",
            "prior_dmt_count": 2,
            "contraindications": [],
        }
        session = requests.Session()
        patients = []
        for _ in range(writes):
            reply = session.post(f"{base}/patients", json=enrollment, headers=clinician, timeout=10)
            reply.raise_for_status()
            patients.append(reply.json()["patient_id"])
        today = datetime.now(UTC).astimezone(ZoneInfo("UTC")).date().isoformat()
        infusion_ms = []
        for patient_id in patients:
            started = time.perf_counter()
            reply = session.post(
                f"{base}/patients/{patient_id}/infusions", json=_infusion(today), headers=clinician, timeout=10
            )
            infusion_ms.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 201, reply.text
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{dynamodb_port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        put_ms = []
        for index in range(writes):
            item = {"pk": {"S": f"BENCH#{index}"}, "sk": {"S": "PUT"}, "v": {"N": str(index)}}
            started = time.perf_counter()
            client.put_item(TableName="RegimenTable", Item=item)
            put_ms.append((time.perf_counter() - started) * 1000)
    finally:
        process.terminate()
        process.wait(30)
    infusion, put = statistics.median(infusion_ms), statistics.median(put_ms)
    return {"infusion_ms": infusion, "put_item_ms": put, "ratio": infusion / put}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--writes", type=int, default=100)
    args = parser.parse_args(argv)
    result = measure(args.writes)
    print(f"infusion write (HTTP, local stack), median: {result['infusion_ms']:.1f} ms over {args.writes}")
    print(f"bare PutItem (same DynamoDB Local), median:  {result['put_item_ms']:.1f} ms over {args.writes}")
    print(f"ratio: {result['ratio']:.1f}x")


if __name__ == "__main__":
    main()
