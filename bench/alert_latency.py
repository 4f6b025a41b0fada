"""Critical alerts at once (DESIGN 7): when an alert is published relative to the write's answer, and what it costs.

1. Writer path, on the local stack (``python -m local``: DynamoDB Local, moto SNS, the real recording function):
   ``N`` CBCs with platelets at 15, each for its own patient. An HTTP endpoint of this process is subscribed to the
   digest topic (moto delivers to it inside ``Publish``), so each alert's publish is timestamped on the same clock
   as the write's answer. Reports answer - publish (positive: the alert went out before the answer).
2. Drain path, on the same stack: ``N`` alerts left owed by writers that died (their lease ran out), then one run
   of the real ``AlertDrainFunction`` (``POST /_local/drain-alerts``). Reports each publish's offset into the run;
   in AWS a run starts at most one minute (the schedule) after SNS refused the writer, plus the writer's
   60 s lease when the writer died instead. Scheduler and Lambda are not emulated: that wait is stated, not timed.
3. Write units per alert, in-process on DynamoDB Local (real services and repository, ``ReturnConsumedCapacity``):
   the writer's path, SNS refusing the writer then the drain, and a dead writer then the drain.

    .venv/bin/python -m bench.alert_latency [--alerts 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import requests

from bench.localdb import free_port, local_dynamodb
from bench.write_latency import READY, ROOT

ENROLLMENT = {
    "birth_date": "1985-01-01",
    "sex": "male",
    "reproductive_potential": False,
    "diagnosis": "relapsing_remitting",
    "prior_dmt_count": 2,
    "contraindications": [],
}
LOW = [{"code": "platelets", "value": 15, "unit": "10*9/L"}]
REGION = "us-east-1"
TOPIC = "arn:aws:sns:us-east-1:123456789012:DigestTopic"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Receiver:
    """An HTTP endpoint SNS (moto) posts each notification to; notes when each alert arrived (time.time())."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}  # alert key -> arrival
        received = self.arrived

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                    if body.get("Type") == "Notification":
                        document = json.loads(body["Message"])  # the `default` JSON (no `http` key is sent)
                        if document.get("kind") == "alert":
                            received[f"{document['patient_id']}#{document['code']}"] = at
                except (ValueError, KeyError, TypeError):
                    pass  # not an alert: a digest's envelope, a confirmation
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _start_stack(port: int, dynamodb_port: int, sns_port: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "local", "--port", str(port), "--dynamodb-port", str(dynamodb_port)]
    command += ["--sns-port", str(sns_port), "--in-memory", "--quiet"]
    env = {name: value for name, value in os.environ.items() if name != "PORT"}
    env["LOCAL_ALERT_DRAIN_SECONDS"] = "0"  # no background drain: the bench runs it when it means to
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if line.startswith(READY):
            threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
            return process
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the local stack did not start")


def _token(base: str, role: str, clinic_id: str | None = None) -> dict[str, str]:
    body = {"role": role, **({"clinic_id": clinic_id} if clinic_id else {})}
    token = requests.post(f"{base}/_local/token", json=body, timeout=10).json()["token"]
    return {"Authorization": f"Bearer {token}"}


@dataclass
class StackFigures:
    alerts: int
    write_ms: list[float]  # the write's round trip
    before_answer_ms: list[float]  # answer - publish
    drain_offsets_ms: list[float]  # publish - the drain run's start
    drain_run_ms: float


def measure_stack(alerts: int) -> StackFigures:
    from lemtrada.regimen.alerts import Alert  # noqa: PLC0415 - the layer is on the path once the bench runs
    from lemtrada.regimen.records import Severity  # noqa: PLC0415
    from lemtrada.storage import alert_items  # noqa: PLC0415

    port, dynamodb_port, sns_port = free_port(), free_port(), free_port()
    process = _start_stack(port, dynamodb_port, sns_port)
    receiver = Receiver()
    base = f"http://127.0.0.1:{port}"
    try:
        sns = boto3.client(
            "sns",
            endpoint_url=f"http://127.0.0.1:{sns_port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        sns.subscribe(TopicArn=TOPIC, Protocol="http", Endpoint=f"http://127.0.0.1:{receiver.port}/")
        clinic_id = f"bench-{uuid.uuid4().hex[:6]}"
        admin, clinician = _token(base, "admins"), _token(base, "clinicians", clinic_id)
        clinic = {"name": "Bench", "timezone": "UTC", "label": "US"}
        requests.put(f"{base}/clinics/{clinic_id}", json=clinic, headers=admin, timeout=10).raise_for_status()
        session = requests.Session()
        patients = []
        for _ in range(alerts):
            reply = session.post(f"{base}/patients", json=ENROLLMENT, headers=clinician, timeout=10)
            reply.raise_for_status()
            patients.append(reply.json()["patient_id"])
        yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
        write_ms, before_ms = [], []
        for patient_id in patients:
            started = time.perf_counter()
            reply = session.post(
                f"{base}/patients/{patient_id}/results",
                json={"item": "cbc", "date": yesterday, "analytes": LOW},
                headers=clinician,
                timeout=10,
            )
            answered = time.time()
            write_ms.append((time.perf_counter() - started) * 1000)
            assert reply.status_code == 201, reply.text
            published = receiver.arrived[f"{patient_id}#platelets_below_100"]  # there before the answer
            before_ms.append((answered - published) * 1000)

        # the drain's path: writers that died after their commit, their leases run out
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{dynamodb_port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        died_at = datetime.now(UTC) - alert_items.WRITER_LEASE - timedelta(seconds=1)
        today = date.today()
        for patient_id in patients:
            alert = Alert(clinic_id, patient_id, "deviation", "iv_push_or_bolus", Severity.CRITICAL, today)
            dynamodb.put_item(TableName="RegimenTable", Item=alert_items.owed_item(alert, died_at))
        started_at = time.time()
        run = requests.post(f"{base}/_local/drain-alerts", timeout=600)
        run_ms = (time.time() - started_at) * 1000
        run.raise_for_status()
        assert run.json()["sent"] == alerts, run.text
        offsets = [(receiver.arrived[f"{p}#iv_push_or_bolus"] - started_at) * 1000 for p in patients]
    finally:
        receiver.close()
        process.terminate()
        process.wait(30)
    return StackFigures(alerts, write_ms, before_ms, offsets, run_ms)


@dataclass
class UnitFigures:
    writer: float  # write units per alert, SNS taking it from the writer
    refused_then_drained: float
    died_then_drained: float


def measure_units(alerts: int) -> UnitFigures:
    """Write units an alert adds to its result write and what delivering it costs, per path."""
    from lemtrada.notify.publisher import Message  # noqa: PLC0415
    from lemtrada.regimen.records import Analyte, Diagnosis, Label, ResultItem, Sex  # noqa: PLC0415
    from lemtrada.services.actor import Actor, Role  # noqa: PLC0415
    from lemtrada.services.alerts import AlertDelivery  # noqa: PLC0415
    from lemtrada.services.clinics import Clinics  # noqa: PLC0415
    from lemtrada.services.patients import EnrollmentInput, Patients  # noqa: PLC0415
    from lemtrada.services.recording import Recording, ResultInput  # noqa: PLC0415
    from lemtrada.storage.repository import DynamoPatientRepository  # noqa: PLC0415

    from tests.support.memory import InMemoryDigestPublisher  # noqa: PLC0415

    class Dying(InMemoryDigestPublisher):
        def publish(self, message: Message) -> str:
            raise SystemExit("the writer died before SNS took the alert")

    logging.getLogger("lemtrada").setLevel(logging.ERROR)  # the refused path's warnings are the point here
    figures = {}
    with local_dynamodb() as db:
        table = db.regimen_table("alerts")
        repo = DynamoPatientRepository(table, region=REGION, host=db.endpoint)
        clock = lambda: datetime.now(UTC)  # noqa: E731
        Clinics(repo, clock).put_clinic(
            Actor("admin", frozenset({Role.ADMINS})), "units", name="Units", timezone="UTC", label=Label.US
        )
        clinician = Actor("clin", frozenset({Role.CLINICIANS}), "units")
        enrollment = EnrollmentInput(date(1985, 1, 1), Sex.MALE, False, Diagnosis.RELAPSING_REMITTING, 2, frozenset())
        publisher = InMemoryDigestPublisher()
        drain = AlertDelivery(repo, publisher)
        for path in ("normal", "writer", "refused", "died"):
            units = 0.0
            for _ in range(alerts):
                pid = Patients(repo, clock).enroll(clinician, enrollment).patient_id
                platelets = 250.0 if path == "normal" else 15.0
                data = ResultInput(ResultItem.CBC, date.today(), analytes=(Analyte("platelets", platelets, "10*9/L"),))
                writer = Dying() if path == "died" else publisher
                if path == "refused":
                    publisher.fail_next = 1
                before = repo.capacity.write_units
                with contextlib.suppress(SystemExit):  # the dying writer
                    Recording(repo, clock, writer).record_result(clinician, pid, data)
                later = datetime.now(UTC) + timedelta(minutes=2)  # past every lease
                drain.drain("units", later)
                units += repo.capacity.write_units - before
            figures[path] = units / alerts
        assert repo.owed_alerts("units") == ()
        db.drop(table)
    normal = figures["normal"]
    return UnitFigures(figures["writer"] - normal, figures["refused"] - normal, figures["died"] - normal)


def report(stack: StackFigures, units: UnitFigures) -> str:
    def p(values: list[float]) -> str:
        return f"p50 {statistics.median(values):7.1f} ms, p95 {percentile(values, 0.95):7.1f} ms"

    lines = [
        f"writer path, {stack.alerts} critical CBCs on the local stack:",
        f"  write round trip              {p(stack.write_ms)}",
        f"  alert published before answer {p(stack.before_answer_ms)}"
        f" (min {min(stack.before_answer_ms):.1f} ms: every alert out before its answer)",
        f"drain path, {stack.alerts} alerts left by dead writers, one AlertDrainFunction run:",
        f"  publish offset into the run   {p(stack.drain_offsets_ms)} (run {stack.drain_run_ms / 1000:.1f} s)",
        "  in AWS, + the wait for the run: <= 60 s after SNS refused the writer (schedule),"
        " <= 60 s lease + 60 s when the writer died",
        "write units per alert (DynamoDB Local, over a result write without one):",
        f"  SNS takes it from the writer  {units.writer:.1f}",
        f"  SNS refused the writer, drain {units.refused_then_drained:.1f}",
        f"  writer died, drain            {units.died_then_drained:.1f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=200, help="critical findings per path (default 200)")
    parser.add_argument("--units-alerts", type=int, default=50, help="alerts per path for the write units")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "layers" / "core"))
    print(f"command: python -m bench.alert_latency {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    started = time.perf_counter()
    stack = measure_stack(args.alerts)
    units = measure_units(args.units_alerts)
    print(report(stack, units))
    print(f"run time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
