"""The care plan out (DESIGN 10) for a long record: build time, entries and bytes of one patient's FHIR Bundle.

The largest record the service keeps for one patient: course 1, course 2 twelve months later (monitoring then runs
60 months from T0), and every monthly panel typed in with its analytes for the whole period (cbc 5, creatinine 1,
urinalysis 2, liver 3; thyroid 2 every quarter), exported on the last day of monitoring. The builder runs in process
(the reading function's part of ``GET /patients/{id}/fhir`` besides the record read); bytes are the compact JSON the
route answers, and gzipped for a client that accepts it.

    .venv/bin/python -m bench.fhir_export [--runs 20]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_CORE = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from lemtrada.regimen import US_PROTOCOL, add_result, build_schedule, plan_infusion  # noqa: E402
from lemtrada.regimen.dates import add_months  # noqa: E402
from lemtrada.regimen.records import (  # noqa: E402
    Analyte,
    Diagnosis,
    Enrollment,
    InfusionRequest,
    InfusionRoute,
    PatientProfile,
    PatientRecord,
    Result,
    ResultItem,
    Sex,
)
from lemtrada.services.fhir_export import care_plan_bundle  # noqa: E402

T0 = date(2026, 1, 12)
LAMBDA_RESPONSE_LIMIT = 6 * 2**20  # a synchronous Lambda's response payload
PANELS: dict[ResultItem, tuple[tuple[str, float, str], ...]] = {
    ResultItem.CBC: (
        ("platelets", 210.0, "10*9/L"),
        ("neutrophils", 3.1, "10*9/L"),
        ("lymphocytes", 1.2, "10*9/L"),
        ("wbc", 5.8, "10*9/L"),
        ("hemoglobin", 13.2, "g/dL"),
    ),
    ResultItem.CREATININE: (("creatinine", 0.9, "mg/dL"),),
    ResultItem.URINALYSIS: (("urine_rbc", 1.0, "/[HPF]"), ("urine_protein", 10.0, "mg/dL")),
    ResultItem.LIVER: (("alt", 25.0, "U/L"), ("ast", 22.0, "U/L"), ("bilirubin_total", 0.6, "mg/dL")),
    ResultItem.THYROID: (("tsh", 2.1, "m[IU]/L"), ("free_t4", 1.1, "ng/dL")),
}


@dataclass(frozen=True, slots=True)
class Export:
    entries: int
    tasks: int
    observations: int
    json_bytes: int
    gzip_bytes: int
    build_ms: list[float]
    serialize_ms: list[float]
    gzip_ms: list[float]

    def line(self) -> str:
        build, dump, pack = (statistics.median(t) for t in (self.build_ms, self.serialize_ms, self.gzip_ms))
        return (
            f"entries {self.entries} ({self.tasks} Task, {self.observations} Observation); "
            f"JSON {self.json_bytes / 1024:.0f} KiB, gzip {self.gzip_bytes / 1024:.0f} KiB "
            f"({self.json_bytes / LAMBDA_RESPONSE_LIMIT:.1%} of Lambda's 6 MB response); "
            f"build {build:.1f} ms, json.dumps {dump:.1f} ms, gzip (level 6) {pack:.1f} ms"
            f" (medians of {len(self.build_ms)})"
        )


def _request(day: date) -> InfusionRequest:
    start = datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)
    return InfusionRequest(
        date=day,
        dose_mg=12.0,
        diluted_at=start - timedelta(minutes=30),
        started_at=start,
        ended_at=start + timedelta(hours=4, minutes=15),
        route=InfusionRoute.IV_INFUSION,
        co_infused=False,
        methylprednisolone_mg=1000.0,
        antiviral_prophylaxis=True,
        observation_minutes=120,
        batch_number="LOT-1",
    )


def long_record() -> PatientRecord:
    """Two courses and 60 months of monthly panels (quarterly thyroid), every analyte typed in."""
    enrollment = Enrollment(
        birth_date=date(1985, 4, 2),
        sex=Sex.FEMALE,
        reproductive_potential=True,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=2,
        contraindications=frozenset(),
        enrolled_on=T0 - timedelta(days=30),
    )
    record = PatientRecord(PatientProfile("0123456789abcdef0123456789abcdef", "c-bench", enrollment))
    days = [T0 + timedelta(days=n) for n in range(5)] + [add_months(T0, 12) + timedelta(days=n) for n in range(3)]
    for day in days:
        infusion = plan_infusion(record, _request(day), day, US_PROTOCOL)
        record = replace(record, infusions=(*record.infusions, infusion))
    results: list[Result] = []
    for month in range(1, 61):
        day = add_months(T0, month)
        for item, analytes in PANELS.items():
            if item == ResultItem.THYROID and month % 3:
                continue
            values = tuple(Analyte(code, value, unit) for code, value, unit in analytes)
            results.append(Result(f"R{month:03d}{item.value[:4]}", item, day, analytes=values))
    for result in results:
        record, _ = add_result(record, result, US_PROTOCOL)
    return record


def measure(runs: int = 20) -> Export:
    record = long_record()
    on = add_months(record.infusions[-1].date, 48)
    schedule = build_schedule(record, on, US_PROTOCOL)
    now = datetime(on.year, on.month, on.day, 7, 0, tzinfo=UTC)
    build_ms: list[float] = []
    serialize_ms: list[float] = []
    gzip_ms: list[float] = []
    body = ""
    bundle: dict[str, object] = {}
    for _ in range(runs):
        started = time.perf_counter()
        bundle = care_plan_bundle(record, schedule, US_PROTOCOL, external_ref="MRN-1", generated_at=now)
        built = time.perf_counter()
        body = json.dumps(bundle, separators=(",", ":"), ensure_ascii=False)
        dumped = time.perf_counter()
        gzip.compress(body.encode("utf-8"), compresslevel=6, mtime=0)  # what the route does for a gzip client
        build_ms.append((built - started) * 1000)
        serialize_ms.append((dumped - built) * 1000)
        gzip_ms.append((time.perf_counter() - dumped) * 1000)
    entries = bundle["entry"]
    assert isinstance(entries, list)
    kinds = [entry["resource"]["resourceType"] for entry in entries]
    raw = body.encode()
    return Export(
        entries=len(entries),
        tasks=kinds.count("Task"),
        observations=kinds.count("Observation"),
        json_bytes=len(raw),
        gzip_bytes=len(gzip.compress(raw)),
        build_ms=build_ms,
        serialize_ms=serialize_ms,
        gzip_ms=gzip_ms,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    print(measure(args.runs).line())


if __name__ == "__main__":
    main()
