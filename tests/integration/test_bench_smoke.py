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
