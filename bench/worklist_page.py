"""Worklist first page (DESIGN 8 targets) on DynamoDB Local: p50/p95 latency and items read per page at two clinic
sizes with realistic histories (bench.synthetic), through the Reading service and the DynamoDB repository; plus the
write units a projection adds to an enrollment (measured with and without it).

    .venv/bin/python -m bench.worklist_page [--sizes 200,2000] [--runs 40] [--limit 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_CORE = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from lemtrada.regimen.records import Clinic, Label  # noqa: E402
from lemtrada.services.actor import Actor, Role  # noqa: E402
from lemtrada.services.reading import Reading  # noqa: E402
from lemtrada.services.worklists import projection_update, with_changes_on  # noqa: E402
from lemtrada.storage.ports import AuditEntry, StoredPatient  # noqa: E402
from lemtrada.storage.repository import DynamoPatientRepository  # noqa: E402

from bench.localdb import REGION, local_dynamodb  # noqa: E402
from bench.synthetic import synthetic_records  # noqa: E402

TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
CLINIC = "bench-clinic"


@dataclass(frozen=True, slots=True)
class PageFigures:
    patients: int
    listed: int
    p50_ms: float
    p95_ms: float
    items_read: float
    read_units: float


def _audit() -> AuditEntry:
    return AuditEntry("bench", "clinicians", NOW, "patient.enrolled", "PROFILE")


def seed(repo: DynamoPatientRepository, count: int, *, with_projection: bool = True, seed_no: int = 0) -> None:
    for generated in synthetic_records(count, seed=seed_no, today=TODAY):
        record = replace(generated, profile=replace(generated.profile, clinic_id=CLINIC))
        update = projection_update(None, record, (), TODAY, Label.US) if with_projection else None
        stored = StoredPatient(record, 1, NOW, external_ref="MRN", next_check=with_changes_on(None, update, None))
        repo.create_patient(stored, _audit(), worklist=update)


class _Items:
    """Items DynamoDB returned (``Count``) to Query calls, counted from the client's event hook."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        client.meta.events.register("after-call.dynamodb.Query", self._seen)

    def _seen(self, parsed: dict[str, Any], **_: Any) -> None:
        self.count += int(parsed.get("Count", 0))


def measure(endpoint: str, table: str, patients: int, runs: int, limit: int) -> PageFigures:
    repo = DynamoPatientRepository(table, host=endpoint, region=REGION)
    repo.save_clinic(Clinic(CLINIC, "Bench", "UTC", Label.US), None, _audit())
    seed(repo, patients)
    reading = Reading(repo, lambda: NOW)
    actor = Actor(sub="bench", groups=frozenset({Role.CLINICIANS}), clinic_id=CLINIC)
    items = _Items(repo.client)
    reading.worklist(actor, CLINIC, None, limit=limit)  # warm the connection
    items.count = 0
    repo.capacity.reset()
    times = []
    listed = 0
    for _ in range(runs):
        started = time.perf_counter()
        view = reading.worklist(actor, CLINIC, None, limit=limit)
        times.append((time.perf_counter() - started) * 1000)
        listed = len(view.patients)
    times.sort()
    return PageFigures(
        patients=patients,
        listed=listed,
        p50_ms=statistics.median(times),
        p95_ms=times[max(0, round(0.95 * len(times)) - 1)],
        items_read=items.count / runs,
        read_units=repo.capacity.read_units / runs,
    )


def projection_write_units(endpoint: str, table: str, count: int = 50) -> tuple[float, float, float, float, float]:
    """Write units per enrollment, then per sweep write of the next day (no notices), without and with a changed
    projection (the same synthetic patients, in two tables)."""
    out: list[float] = []
    later = TODAY + timedelta(days=45)  # far enough for most worklists to have changed
    for with_projection, name in ((False, f"{table}-a"), (True, f"{table}-b")):
        repo = DynamoPatientRepository(name, host=endpoint, region=REGION)
        seed(repo, count, with_projection=with_projection, seed_no=7)
        out.append(repo.capacity.write_units / count)
        repo.capacity.reset()
        writes = 0
        for generated in synthetic_records(count, seed=7, today=TODAY):
            stored = repo.get_patient(generated.patient_id)
            assert stored is not None
            update = projection_update(stored, stored.record, (), later, Label.US) if with_projection else None
            if with_projection and update is None:
                continue
            repo.record_sweep(stored.patient_id, later, [], stored.version, later, clinic_id=CLINIC, worklist=update)
            writes += 1
        out.append(repo.capacity.by_operation.get("record_sweep", 0.0) / max(writes, 1))
        repo.capacity.reset()
        for generated in synthetic_records(count, seed=7, today=TODAY):  # a sweep write leaving the worklist alone
            stored = repo.get_patient(generated.patient_id)
            assert stored is not None
            repo.record_sweep(stored.patient_id, later, [], stored.version, later, clinic_id=CLINIC)
        out.append(repo.capacity.by_operation.get("record_sweep", 0.0) / count)
    return out[0], out[3], out[1], out[4], out[5]


def run(local: Any, sizes: list[int], runs: int = 40, limit: int = 50) -> str:
    """Every measurement on one running DynamoDB Local (``bench.localdb.LocalDynamo``), as a printable table."""
    rows = [measure(local.endpoint, local.regimen_table("worklist"), size, runs, limit) for size in sizes]
    base = local.regimen_table("wcu")
    local.client.create_table(**_copy(local, base, f"{base}-a"))
    local.client.create_table(**_copy(local, base, f"{base}-b"))
    plain, projected, sweep_plain, sweep_projected, sweep_kept = projection_write_units(local.endpoint, base)
    lines = [
        f"| patients | listed | p50 ms | p95 ms | items read / page | RCU / page |  (limit {limit}, {runs} runs)",
        "|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {row.patients} | {row.listed} | {row.p50_ms:.1f} | {row.p95_ms:.1f} | {row.items_read:.1f} |"
            f" {row.read_units:.1f} |"
            for row in rows
        ),
        f"enrollment WCU without projection {plain:.2f}, with {projected:.2f} (DynamoDB Local's TOTAL)",
        f"sweep write WCU without projection {sweep_plain:.2f}, with a changed one {sweep_projected:.2f},"
        f" with one stored and left alone {sweep_kept:.2f}",
    ]
    if len(rows) > 1 and rows[0].items_read:
        spread = abs(rows[-1].items_read - rows[0].items_read) / rows[0].items_read
        lines.append(
            f"goals: p95 at {rows[-1].patients} = {rows[-1].p95_ms:.0f} ms (<= 300), items read spread {spread:.1%}"
            " (<= 10%)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args(argv)
    with local_dynamodb() as local:
        print(run(local, [int(size) for size in args.sizes.split(",")], args.runs, args.limit))


def _copy(local: Any, source: str, name: str) -> dict[str, Any]:
    description = local.client.describe_table(TableName=source)["Table"]
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": description["KeySchema"],
        "AttributeDefinitions": description["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in description.get("GlobalSecondaryIndexes", [])
        ],
    }
    return request


if __name__ == "__main__":
    main()
