"""The benchmark's sweep-against-scan on a tiny data set, so `make bench` keeps working (no timing asserted)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench import sweep_cost
from bench.localdb import local_dynamodb

pytestmark = pytest.mark.integration


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
