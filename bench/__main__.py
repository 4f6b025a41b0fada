"""``make bench``: every benchmark of the service in one run, ratios measured side by side.

1. the nightly sweep against a full-table scan on DynamoDB Local (started here, in memory, on a free loopback
   port), at growing enrolled counts; 2. the same with due patients held fixed (20 by default) while only quiet
   patients (nothing owed on the date) are added; 3. cold start of each HTTP function as Lambda runs it (the built
   artifacts read-only, import plus the first request) against ``import boto3``, a DynamoDB client and one call;
   4. sizes after sam build; 5. rules-engine throughput; 6. critical alerts: publish against the write's answer on
   the local stack, the minute drain's run, write units per alert (``bench.alert_latency``);
   7. the first sweep after enrolling 500 patients with history (history items sent, goal 0:
   ``bench.onboarding``);
   8. 24 hourly sweep runs against one daily run (``bench.sweep_hours``).
   9. the worklist's first page (``bench.worklist_page``).
   10. the care plan out: one long record's FHIR Bundle, build time and bytes (``bench.fhir_export``).
   11. lab results in (DESIGN 10): a 500-Observation Bundle and 500 ORU^R01 messages through the local stack,
   observations per second, units per observation (``bench.lab_ingest``).
   12. the hourly reminder run for patients with devices (``bench.reminders``: moto SNS in process).

    .venv/bin/python -m bench [--quick] [--sizes 1000,2000] [--growth-base 120] [--growth-due 20]
                              [--factors 1,10] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from bench import (
    alert_latency,
    cold_start,
    digest_size,
    engine_throughput,
    fhir_export,
    lab_ingest,
    onboarding,
    reminders,
    sizes,
    sweep_cost,
    sweep_hours,
    worklist_page,
)
from bench.localdb import local_dynamodb


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text(encoding="utf-8").split("MemTotal:", 1)[1].split()[0])
        memory = f", {kib / 2**20:.0f} GiB memory"
    return f"{os.cpu_count()} cores, {model}{memory}, Python {platform.python_version()} ({platform.machine()})"


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run for CI")
    parser.add_argument("--sizes", help="enrolled patients for the sweep against the scan (default 1000,2000)")
    parser.add_argument("--growth-base", type=int, help="patients whose due ones stay fixed (default 120)")
    parser.add_argument("--growth-due", type=int, help="of the growth base, patients due on the date (default 20)")
    parser.add_argument("--factors", help="enrolled multiples of the growth base (default 1,10)")
    parser.add_argument("--runs", type=int, help="fresh processes per cold-start probe (default 15)")
    parser.add_argument("--engine-patients", type=int, help="histories for the engine throughput (default 10000)")
    args = parser.parse_args(argv)
    quick = args.quick
    size_list = [int(s) for s in (args.sizes or ("200,400" if quick else "1000,2000")).split(",") if s]
    base = args.growth_base or (60 if quick else 120)
    growth_due = args.growth_due or 20
    factors = [int(f) for f in (args.factors or ("1,3" if quick else "1,10")).split(",") if f]
    runs = args.runs or (3 if quick else 15)
    engine_patients = args.engine_patients or (1000 if quick else 10_000)

    started = time.perf_counter()
    print(f"machine: {machine()}")
    print(f"command: python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())

    section("rules engine throughput (schedule, status, notices, next_check)")
    print(engine_throughput.measure(engine_patients).line(), flush=True)

    section(
        "cold start as Lambda runs it: built artifacts read-only, shipped bytecode only, import + first request"
        " (median), against boto3 + a DynamoDB client + one call"
    )
    cold = cold_start.measure(runs)
    print(cold_start.table(cold, runs), flush=True)

    section("sizes after sam build (.aws-sam/build; zipped: deflate, in memory)")
    built = sizes.measure()
    print(sizes.table(built), flush=True)

    section("digest of one clinic of 2,000 patients: SNS messages and bytes (DESIGN 8: goal 1 message)")
    print(digest_size.table(digest_size.run(200 if quick else 2000)), flush=True)

    alerts = 20 if quick else 200
    section(f"critical alerts: {alerts} on the local stack, writer path and drain path; write units per alert")
    print(alert_latency.report(alert_latency.measure_stack(alerts), alert_latency.measure_units(10 if quick else 50)))
    section(
        "first sweep after enrolling patients with history (POST /patients with history, in-memory twins):"
        " history items sent (DESIGN 8: goal 0)"
    )
    onboarded = onboarding.run(50 if quick else 500)
    print(onboarding.table(onboarded), flush=True)
    messages = 50 if quick else 500
    section(f"lab results in: a 500-Observation Bundle and {messages} ORU^R01 messages on the local stack (DESIGN 10)")
    lab_patients = 20 if quick else 100
    lab_stack = lab_ingest.measure_stack(lab_patients, messages)
    print(lab_ingest.report(lab_stack, lab_ingest.measure_units(lab_patients)), flush=True)

    section("care plan out (DESIGN 10): the FHIR Bundle of a five-year record, built in process")
    print(fhir_export.measure(5 if quick else 20).line(), flush=True)

    with local_dynamodb() as db:
        section("sweep against a full-table scan, realistic patients (due ones grow with enrolled)")
        by_size = sweep_cost.cost_by_size(db, size_list, log=sys.stderr)
        print(sweep_cost.table(by_size), flush=True)
        section(f"cost growth: {base} patients, {growth_due} of them due, then only quiet patients added")
        growth = sweep_cost.cost_growth(db, base, factors, due=growth_due, log=sys.stderr)
        print(sweep_cost.table(growth), flush=True)
        section("24 hourly sweep runs against one daily run: 40 clinics in 12 zones (DESIGN 8, digest_hour)")
        hours = sweep_hours.measure(db, 400 if quick else 2000, 60 if quick else 300)
        print(sweep_hours.table(*hours), flush=True)
        section("worklist first page (DESIGN 8: p95 <= 300 ms at 2,000 patients, items read flat within 10%)")
        print(worklist_page.run(db, [200, 400] if quick else [200, 2000], runs=10 if quick else 40), flush=True)
        reminded = 200 if quick else 10_000
        section(f"hourly reminder run: {reminded:,} patients with a device (DESIGN 9; moto SNS in process)")
        print(reminders.measure(db, reminded).line(), flush=True)

    section("goals")
    largest = by_size[-1]
    worst_per_due = max(m.reads_per_due for m in by_size)
    record_per_due = max(m.record_reads_per_due for m in by_size + growth)
    flat = [m.sweep.read_units for m in growth]
    spread = (max(flat) - min(flat)) / min(flat) if flat and min(flat) > 0 else float("nan")
    slowest, slowest_ratio = cold_start.worst(cold)
    per_function = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in cold_start.ratios(cold).items())
    layer = next((s for s in built if s.name == "CoreLayer"), None)
    print(f"sweep RCU per due patient, worst of the sizes: {worst_per_due:.2f} (goal <= 2)")
    print(
        f"history items in the first sweep after enrolling {onboarded.patients} patients with history:"
        f" {onboarded.history_items} of {onboarded.items} (goal 0); history alerts {onboarded.history_alerts}"
    )
    print(f"record reads (get_patient) per due patient, worst: {record_per_due:.2f}")
    worst_writes = max(m.writes_per_due for m in by_size + growth)
    per_notice = max(m.writes_per_notice for m in by_size + growth)
    print(
        f"sweep WCU per due patient, worst of every table: {worst_writes:.2f} (goal <= 4); per notice {per_notice:.2f}"
    )
    print(
        f"sweep reads as enrolled grow {factors[0]}x..{factors[-1]}x with due fixed: spread {spread:.1%} (goal <= 10%)"
    )
    print(f"scan/sweep read units at {largest.enrolled:,} enrolled: {largest.read_ratio:.1f}x (goal >= 20x)")
    print(
        f"slowest cold start (import + first request): {slowest} {slowest_ratio:.2f}x boto3 + client + call"
        f" (goal <= {cold_start.GOAL}x); {per_function}"
    )
    if layer is not None:
        print(
            f"core layer: {layer.unzipped / 1e6:.1f} MB unzipped, {layer.zipped / 1e6:.1f} MB zipped"
            f" (budget {cold_start.LAYER_BUDGET_MB} MB unzipped)"
        )
    print(f"\nbench run time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
