"""Many clients writing infusions and results for the same patients at once, on the local stack (loopback only).

Each client thread sends its share of writes; a third of the results are retried with the same Idempotency-Key
(a phone that lost the answer), and several clients race for the same infusion date. Afterwards, read straight
from DynamoDB Local: every accepted write is stored exactly once, every refused one is absent, each patient's
version is 1 + its accepted writes, and its audit trail holds one entry per accepted write. The figures
(requests per second, p50/p99 latency) are printed; ``LOAD_CLIENTS``/``LOAD_WRITES`` scale the run, and
``--run-slow`` runs the larger variant.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from lemtrada.storage.repository import DynamoPatientRepository

from tests.e2e.conftest import RunningStack, start_stack
from tests.support import bodies

pytestmark = pytest.mark.e2e
CLINIC = "load-lyon"
PATIENTS = 4
INFUSION_DATES = ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09"]
ITEMS = ["cbc", "creatinine", "urinalysis", "liver", "thyroid"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("load-stack"), extra_args=("--in-memory",))
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Ledger:
    """What the clients saw: accepted results by id, accepted infusions, latencies, statuses."""

    results: dict[str, set[str]] = field(default_factory=dict)  # patient -> result ids
    infusions: dict[str, set[str]] = field(default_factory=dict)  # patient -> dates
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1


def _infusion(day: str) -> dict[str, Any]:
    return bodies.infusion(day, observation_minutes=None)


def _enroll(stack: RunningStack) -> tuple[list[str], dict[str, str]]:
    url = stack.base_url
    body = {"name": "Load clinic", "timezone": "Europe/Paris", "label": "US"}
    assert requests.put(f"{url}/clinics/{CLINIC}", json=body, headers=stack.headers("admins"), timeout=10).ok
    headers = stack.headers("clinicians", clinic_id=CLINIC)
    ids = []
    for _ in range(PATIENTS):
        enrollment = bodies.enrollment(
            birth_date="1985-01-01", sex="male", reproductive_potential=False, external_ref=None
        )
        reply = requests.post(f"{url}/patients", json=enrollment, headers=headers, timeout=10)
        assert reply.status_code == 201, reply.text
        ids.append(reply.json()["patient_id"])
    return ids, headers


def _client(
    stack: RunningStack, headers: dict[str, str], patients: list[str], *, number: int, writes: int, ledger: Ledger
) -> None:
    session = requests.Session()
    for n in range(writes):
        patient = patients[(number + n) % len(patients)]
        if n % 4 == 0:  # everyone races for the same infusion dates
            day = INFUSION_DATES[(n // 4) % len(INFUSION_DATES)]
            path, body, tries = f"/patients/{patient}/infusions", _infusion(day), 1
        else:
            day = f"2026-02-{1 + (number * 7 + n) % 28:02d}"
            path, body = f"/patients/{patient}/results", {"item": ITEMS[n % len(ITEMS)], "date": day}
            tries = 2 if n % 3 == 0 else 1  # a retry with the same key
        key = {"Idempotency-Key": str(uuid.uuid4())} if tries == 2 or n % 2 == 0 else {}
        answers = []
        for _ in range(tries):
            started = time.perf_counter()
            reply = session.post(f"{stack.base_url}{path}", json=body, headers={**headers, **key}, timeout=30)
            ledger.note(reply.status_code, time.perf_counter() - started)
            answers.append(reply)
        accepted = [reply for reply in answers if reply.status_code in (200, 201)]
        assert all(reply.status_code in (200, 201, 409) for reply in answers), [r.text for r in answers]
        if tries == 2 and len(accepted) == 2:
            assert accepted[0].json() == accepted[1].json()  # the replay is the first answer
        with ledger.lock:
            for reply in accepted:
                if path.endswith("/results"):
                    ledger.results.setdefault(patient, set()).add(reply.json()["result_id"])
                elif reply.status_code == 201:
                    ledger.infusions.setdefault(patient, set()).add(day)


def _repository(stack: RunningStack) -> DynamoPatientRepository:
    """The stack's table read through the service's own repository, whatever the item layout."""
    return DynamoPatientRepository("RegimenTable", region="us-east-1", host=f"http://127.0.0.1:{stack.dynamodb_port}")


def _run(stack: RunningStack, clients: int, writes: int) -> None:
    patients, headers = _enroll(stack)
    ledger = Ledger()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [
            pool.submit(_client, stack, headers, patients, number=n, writes=writes, ledger=ledger)
            for n in range(clients)
        ]
        for future in futures:
            future.result()
    elapsed = time.perf_counter() - started
    repository = _repository(stack)
    for patient in patients:
        stored = repository.get_patient(patient)
        assert stored is not None
        results = {result.result_id for result in stored.record.results}
        infusions = {infusion.date.isoformat() for infusion in stored.record.infusions}
        assert results == ledger.results.get(patient, set())  # exactly the accepted, none refused
        assert infusions == ledger.infusions.get(patient, set())
        accepted = len(results) + len(infusions)
        assert stored.version == 1 + accepted  # no lost update
        assert len(repository.audit_trail(patient)) == 1 + accepted  # the enrollment and one per accepted write
    latencies = sorted(ledger.latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    sys.stderr.write(
        f"\nload: {clients} clients, {len(latencies)} requests in {elapsed:.1f} s = {len(latencies) / elapsed:.1f}"
        f" req/s; p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms;"
        f" statuses {dict(sorted(ledger.statuses.items()))}\n"
    )
    assert ledger.statuses.get(500, 0) == 0


def test_concurrent_writes_lose_nothing_and_store_nothing_twice(stack: RunningStack) -> None:
    _run(stack, int(os.environ.get("LOAD_CLIENTS", "8")), int(os.environ.get("LOAD_WRITES", "12")))


@pytest.mark.slow
def test_concurrent_writes_larger(stack: RunningStack) -> None:
    _run(stack, 16, 40)
