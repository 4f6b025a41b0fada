"""The reminder store on DynamoDB (moto): the run's exactly-once and its crash points, as on the in-memory twin."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest
from lemtrada.storage.reminders import DynamoReminderStore, pushes_pk
from lemtrada.storage.repository import DynamoPatientRepository

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
from tests.unit.storage.tables import create_regimen_table
from tests.unit.sweep.fakes import Crash, crash_on

TABLE = "regimen-test"


@pytest.fixture
def dynamo_world(aws: None) -> Callable[..., World]:
    client = boto3.client("dynamodb")
    create_regimen_table(client, TABLE)

    def make(patients: int = 3) -> World:
        repo = DynamoPatientRepository(TABLE, region="eu-west-1", due_shards=4, client=client)
        return World(patients, repo=repo, store=DynamoReminderStore(TABLE, client=client))

    return make


def test_devices_round_trip_without_the_token(dynamo_world: Callable[..., World]) -> None:
    world = dynamo_world(1)
    world.devices.put_device(patient("s-p0"), "tablet", "fcm", "token-secret")
    listed = world.devices.list_devices(patient("s-p0"))
    assert [d.device_id for d in listed.devices] == ["phone-0", "tablet"]
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": "PATIENT#p0"}, "sk": {"S": "REMINDERS"}})
    assert "token-secret" not in repr(item)
    world.devices.set_reminders(patient("s-p0"), enabled=False)
    assert world.store.patients_to_remind("paris") == ()
    world.devices.set_reminders(patient("s-p0"), enabled=True)
    world.devices.delete_device(patient("s-p0"), "tablet")
    assert world.store.patients_to_remind("paris") == ("p0",)
    assert len(world.store.reminder_state("p0", "paris").devices) == 1


def test_each_owed_push_once_and_the_outbox_empties(dynamo_world: Callable[..., World]) -> None:
    world = dynamo_world()
    world.devices.put_device(patient("s-p0"), "tablet", "fcm", "token-tablet")
    world.run(at(WINDOW, 9))
    world.run(at(WINDOW, 10), run_id="run-2")
    assert sorted(world.pushes()) == [
        ("phone-0", "due", "2026-02-15"),
        ("phone-1", "due", "2026-02-15"),
        ("phone-2", "due", "2026-02-15"),
        ("tablet", "due", "2026-02-15"),
    ]
    left = boto3.client("dynamodb").query(
        TableName=TABLE, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pushes_pk("paris")}}
    )
    assert left["Items"] == []
    assert world.store.reminder_leases()["paris"].done


def test_a_disabled_endpoint_is_marked(dynamo_world: Callable[..., World]) -> None:
    world = dynamo_world(2)
    world.gateway.gone.add(world.store.reminder_state("p1", "paris").devices[0].endpoint_arn)
    world.run(at(WINDOW, 9))
    assert world.store.reminder_state("p1", "paris").devices[0].disabled
    assert [d for d, _, _ in world.pushes()] == ["phone-0"]


def test_a_stale_push_never_disables_a_new_registration(dynamo_world: Callable[..., World]) -> None:
    stale_push_after_a_new_registration(dynamo_world(1))


def test_a_push_refused_too_long_expires(dynamo_world: Callable[..., World]) -> None:
    refused_until_it_expires(dynamo_world(2))


@pytest.mark.parametrize(("target", "method", "call", "after"), CRASH_POINTS)
def test_crash_points_on_dynamodb(
    dynamo_world: Callable[..., World], target: str, method: str, call: int, after: bool
) -> None:
    world = dynamo_world()
    crash_on(world.store if target == "store" else world.gateway, method, call, after)
    with pytest.raises(Crash):
        world.run(at(WINDOW, 9, 5))
    world.run(at(WINDOW, 10), run_id="run-2")
    _assert_exactly_once(world)
