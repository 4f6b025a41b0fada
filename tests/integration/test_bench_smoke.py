"""The benchmark's sweep-against-scan on a tiny data set and its cold start in one sample, so `make bench` keeps
working (no timing asserted)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from bench import cold_start, sweep_cost
from bench.localdb import local_dynamodb

pytestmark = pytest.mark.integration

needs_build = pytest.mark.skipif(
    not (cold_start.LAYER / "lemtrada").is_dir(),
    reason="no .aws-sam/build: run `make build` (scripts/sam-build.sh) first; `make test` does",
)


def test_sweep_and_scan_agree_and_the_sweep_reads_less() -> None:
    with local_dynamodb() as db:
        table = db.regimen_table("smoke")
        sweep_cost.save_clinics(db, table)
        patients = sweep_cost.population(150, seed=3, settle_on=sweep_cost.TARGET - timedelta(days=2))
        loaded = sweep_cost.load(db, table, patients)
        assert loaded.patients == 150

        result = sweep_cost.measure(db, table, loaded.patients, sweep_cost.TARGET)  # asserts the notices match

    assert result.sweep.due > 0
    assert result.sweep.notices == result.scan.notices
    assert result.scan.patients == 150
    assert result.sweep.read_units < result.scan.read_units
    assert result.sweep.index_rows >= result.sweep.due


def test_growth_keeps_the_due_patients_and_their_notices() -> None:
    with local_dynamodb() as db:
        # cost_growth asserts the sweep matches the scan at each size and finds the same due patients at both.
        results = sweep_cost.cost_growth(db, base=40, factors=(1, 3), due=8)

    small, large = results
    assert (small.enrolled, large.enrolled) == (40, 120)
    assert small.sweep.due == large.sweep.due == 8
    assert sweep_cost.due_patients(small) == sweep_cost.due_patients(large)
    assert small.sweep.notices == large.sweep.notices == large.scan.notices
    assert large.scan.read_units > small.scan.read_units


@needs_build
def test_cold_start_runs_each_http_function_from_its_built_bytecode() -> None:
    results = cold_start.measure(runs=1, warm_up=False)  # fails on an answer >= 300 or a crashed process

    assert [result.name for result in results] == [cold_start.BASELINE, *cold_start.FIRST_REQUESTS]
    by_name = {result.name: result for result in results}
    assert by_name["recording"].route == "POST /patients/{patient_id}/results"
    for result in results:
        assert 0 < result.own <= result.wall, result
        assert result.cpu > 0, result
        assert result.calls >= 1, result  # every first request, and the baseline, reached moto
        assert result.compiled == 0, result  # the shipped .pyc ran: nothing of the artifacts compiled at start
    assert by_name["enrollment"].calls > by_name[cold_start.BASELINE].calls  # a write: idempotency, read, write
    table = cold_start.table(results, runs=1)
    for name in cold_start.FIRST_REQUESTS:
        line = next(line for line in table.splitlines() if line.startswith(name))
        assert ("met" in line.split()) != ("MISSED" in line.split()), line
    assert set(cold_start.ratios(results)) == set(cold_start.FIRST_REQUESTS)


@needs_build
def test_cold_start_without_bytecode_drops_only_the_artifacts_pycache() -> None:
    with cold_start.artifacts(bytecode=False) as found:
        assert not list(found.layer.rglob("__pycache__"))
        assert not any(list(folder.rglob("__pycache__")) for folder in found.functions.values())
        assert list((found.runtime / "botocore").rglob("*.cpython-313.pyc"))  # the runtime stays compiled
        assert (found.layer / "lemtrada" / "__init__.py").is_file()
        assert not os.access(found.layer / "lemtrada", os.W_OK) or os.geteuid() == 0  # read-only (root ignores it)
        assert not found.layer.stat().st_mode & 0o222


def test_the_reminder_bench_pushes_once_per_patient() -> None:
    from bench import reminders

    with local_dynamodb() as db:
        result = reminders.measure(db, 30)
    assert result.pushes == 30
    assert 0 < result.read_units / result.pushes < 3  # the record and the REMINDERS item in one Query
    assert 0 < result.write_units / result.pushes < 6  # the marks and the queued push, then its delete
