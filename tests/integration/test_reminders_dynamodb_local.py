"""The reminder store on DynamoDB Local (AWS's own engine): transactions, the marks' string set, conditions, leases.

The same scenarios as on the in-memory twin and moto: each owed push once with 8 workers at once, every crash
point, a disabled endpoint, a second device; each test on a fresh copy of the template's RegimenTable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from lemtrada.storage.reminders import DynamoReminderStore
from lemtrada.storage.repository import DynamoPatientRepository

from local.tables import table_specs
from local.template import LocalContext, Resolver, load_template
from tests.conftest import ROOT
from tests.integration.conftest import DynamoDBTables
from tests.unit.services.test_reminders import (
    CRASH_POINTS,
    WINDOW,
    World,
    _assert_exactly_once,
    at,
    patient,
    refused_until_it_expires,
    stale_push_after_a_new_registration,
)
from tests.unit.sweep.fakes import Crash, crash_on

pytestmark = pytest.mark.integration


@pytest.fixture
def world_on(dynamodb_local: DynamoDBTables) -> Callable[..., World]:
    name = f"reminders-{uuid.uuid4().hex[:8]}"
    template = load_template(ROOT / "template.yaml")
    names = {"RegimenTable": name, "IdempotencyTable": f"{name}-idempotency"}
    spec = next(
        s
        for s in table_specs(template, Resolver(template, LocalContext(refs=dict(names))), names)
        if s.logical_id == "RegimenTable"
    )
    dynamodb_local.client.create_table(**spec.create_table)
    client = dynamodb_local.client

    def make(patients: int = 3, workers: int = 1) -> World:
        repo = DynamoPatientRepository(name, region="us-east-1", due_shards=4, client=client)
        return World(patients, repo=repo, store=DynamoReminderStore(name, client=client), workers=workers)

    return make


def test_many_patients_at_once_each_once(world_on: Callable[..., World]) -> None:
    world = world_on(patients=24, workers=8)
    world.devices.put_device(patient("s-p0"), "tablet", "fcm", "token-tablet")
    world.gateway.gone.add(world.store.reminder_state("p5", "paris").devices[0].endpoint_arn)
    summary = world.run(at(WINDOW, 9))
    assert (summary["queued"], summary["pushed"], summary["disabled"], summary["failed"]) == (24, 24, 1, 0)
    world.run(at(WINDOW, 10), run_id="run-2")
    world.run(at(WINDOW + timedelta(days=1), 9), run_id="next-day")
    pushes = world.pushes()
    assert len(pushes) == len(set(pushes)) == 24  # 23 phones and p0's tablet; p5's dead phone marked
    assert world.store.reminder_state("p5", "paris").devices[0].disabled
    assert world.store.queued_pushes("paris") == ()
    assert world.store.reminder_leases()["paris"].done


def test_a_stale_push_never_disables_a_new_registration(world_on: Callable[..., World]) -> None:
    stale_push_after_a_new_registration(world_on(1))


def test_a_push_refused_too_long_expires(world_on: Callable[..., World]) -> None:
    refused_until_it_expires(world_on(2))


@pytest.mark.parametrize(("target", "method", "call", "after"), CRASH_POINTS)
def test_crash_points_on_dynamodb_local(
    world_on: Callable[..., World], target: str, method: str, call: int, after: bool
) -> None:
    world = world_on()
    crash_on(world.store if target == "store" else world.gateway, method, call, after)
    with pytest.raises(Crash):
        world.run(at(WINDOW, 9, 5))
    world.run(at(WINDOW, 10), run_id="run-2")
    _assert_exactly_once(world)
