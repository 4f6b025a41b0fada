"""Patient reminders in RegimenTable (DESIGN 9): devices and marks, the clinic's list to remind, the push outbox
and the hourly run's leases, through the storage layer's client.

- ``PATIENT#<patient_id>`` / ``REMINDERS``: ``version``, ``cl`` clinic, ``off`` (reminders disabled), ``lp`` the
  local date of the last push queued, ``dv``
  devices as JSON ``[[device_id, platform, endpoint ARN, token hash, registered at, disabled 0/1]]``, ``mk`` the
  reminder marks (a string set, keys without the ``<patient_id>#``);
- ``REMIND#<clinic_id>`` / ``<patient_id>``: present while the patient has a device and reminders on (the run's
  one Query per clinic);
- ``PUSHES#<clinic_id>`` / ``<date>#<patient_id>``: a queued push: ``t`` title, ``b`` body, ``dt`` data (JSON),
  one ``e#<device_id>`` (endpoint ARN) per device still owed, ``n`` the runs in which SNS refused it;
- ``REMINDS`` / ``<clinic_id>``: the hourly run's lease: ``d``, ``run``, ``until``, ``done`` (as ``SWEEPS``).

``REMINDERS`` sorts after ``AUDIT$``, so the record's one Query returns it too (``reminder_record``: one read per
patient for the record and its reminder state; the record codec skips it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from lemtrada.storage import codec, keys, leases
from lemtrada.storage.capacity import CapacityMeter
from lemtrada.storage.client import LazyClient
from lemtrada.storage.errors import cancelled
from lemtrada.storage.model import SK
from lemtrada.storage.ports import (
    AuditEntry,
    Device,
    QueuedPush,
    ReminderState,
    StoredPatient,
    SweepLease,
    VersionConflict,
)
from lemtrada.storage.wire import Raw, item_key, wire

REMINDERS_SK = "REMINDERS"
REMINDS_PK = "REMINDS"
_ENDPOINT = "e#"


def remind_pk(clinic_id: str) -> str:
    return f"REMIND#{clinic_id}"


def pushes_pk(clinic_id: str) -> str:
    return f"PUSHES#{clinic_id}"


class DynamoReminderStore:
    """``ReminderStore`` on DynamoDB (see the module's table). Every call's consumed capacity is metered."""

    def __init__(
        self, table_name: str, client: Any | None = None, *, region: str | None = None, host: str | None = None
    ) -> None:
        if client is None and region is None:
            raise ValueError("DynamoReminderStore needs a client or a region")
        self.table_name = table_name
        self._client = LazyClient(region or "", host, client)
        self.capacity = CapacityMeter()

    @property
    def client(self) -> Any:
        return self._client.get()

    # -- state ---------------------------------------------------------------------------------------------------
    def reminder_state(self, patient_id: str, clinic_id: str) -> ReminderState:
        response = self.client.get_item(
            TableName=self.table_name,
            Key=item_key(keys.patient_pk(patient_id), REMINDERS_SK),
            ConsistentRead=True,
            ReturnConsumedCapacity="TOTAL",
        )
        self.capacity.add_response("reminder_state", response)
        return _state(patient_id, clinic_id, response.get("Item"))

    def save_reminder_state(self, state: ReminderState, audit: AuditEntry) -> int:
        pk = keys.patient_pk(state.patient_id)
        version = state.version + 1
        sets = "SET #v = :new, cl = :cl, dv = :dv"
        values: dict[str, Raw] = {
            ":new": wire(version),
            ":cl": wire(state.clinic_id),
            ":dv": wire(_devices_json(state.devices)),
        }
        if state.enabled:
            update = f"{sets} REMOVE #off"
        else:
            update = f"{sets}, #off = :true"
            values[":true"] = wire(True)
        if state.version == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#v = :v"
            values[":v"] = wire(state.version)
        registry_key = item_key(remind_pk(state.clinic_id), state.patient_id)
        if state.enabled and state.devices:
            registry: dict[str, Any] = {"Put": {"TableName": self.table_name, "Item": registry_key}}
        else:
            registry = {"Delete": {"TableName": self.table_name, "Key": registry_key}}
        actions = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": item_key(pk, REMINDERS_SK),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#v": "version", "#off": "off"},
                    "ExpressionAttributeValues": values,
                }
            },
            registry,
            {"Put": {"TableName": self.table_name, "Item": codec.audit_item(pk, audit)}},
        ]
        self._transact("save_reminder_state", actions)
        return version

    def patients_to_remind(self, clinic_id: str) -> tuple[str, ...]:
        return tuple(raw[SK]["S"] for raw in self._query("patients_to_remind", remind_pk(clinic_id), only_keys=True))

    def reminder_record(self, patient_id: str, clinic_id: str) -> tuple[StoredPatient | None, ReminderState]:
        pk = keys.patient_pk(patient_id)
        items = list(self._query("reminder_record", pk, after=keys.RECORD_AFTER))
        reminders = next((raw for raw in items if raw[SK]["S"] == REMINDERS_SK), None)
        return codec.patient_from_items(items), _state(patient_id, clinic_id, reminders)

    # -- the push outbox -------------------------------------------------------------------------------------------
    def queue_push(self, state: ReminderState, push: QueuedPush, keys_: Sequence[str]) -> None:
        prefix = f"{state.patient_id}#"
        marks = sorted({key.removeprefix(prefix) for key in keys_})
        values: dict[str, Raw] = {":one": wire(1), ":marks": {"SS": marks}, ":day": wire(push.day.isoformat())}
        if state.version == 0:
            condition = "attribute_not_exists(pk)"
            update = "SET #v = :one, cl = :cl, lp = :day ADD mk :marks"
            values[":cl"] = wire(state.clinic_id)
        else:
            condition = "#v = :v"
            update = "SET #v = #v + :one, lp = :day ADD mk :marks"
            values[":v"] = wire(state.version)
        item: dict[str, Raw] = {
            **item_key(pushes_pk(push.clinic_id), f"{push.day.isoformat()}#{push.patient_id}"),
            "t": wire(push.title),
            "b": wire(push.body),
            "dt": wire(json.dumps(dict(push.data), separators=(",", ":"))),
        }
        for device_id, arn in push.endpoints:
            item[f"{_ENDPOINT}{device_id}"] = wire(arn)
        actions = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": item_key(keys.patient_pk(state.patient_id), REMINDERS_SK),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": values,
                }
            },
            {"Put": {"TableName": self.table_name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
        ]
        self._transact("queue_push", actions)

    def queued_pushes(self, clinic_id: str) -> tuple[QueuedPush, ...]:
        return tuple(_push(clinic_id, raw) for raw in self._query("queued_pushes", pushes_pk(clinic_id)))

    def pushed(self, push: QueuedPush, device_id: str) -> None:
        key = item_key(pushes_pk(push.clinic_id), f"{push.day.isoformat()}#{push.patient_id}")
        others = [d for d, _ in push.endpoints if d != device_id]
        if not others:
            response = self.client.delete_item(TableName=self.table_name, Key=key, ReturnConsumedCapacity="TOTAL")
            self.capacity.add_response("pushed", response, write=True)
            return
        response = self.client.update_item(
            TableName=self.table_name,
            Key=key,
            UpdateExpression="REMOVE #e",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#e": f"{_ENDPOINT}{device_id}"},
            ReturnValues="ALL_NEW",
            ReturnConsumedCapacity="TOTAL",
        )
        self.capacity.add_response("pushed", response, write=True)
        if not any(name.startswith(_ENDPOINT) for name in response.get("Attributes", {})):
            gone = self.client.delete_item(TableName=self.table_name, Key=key, ReturnConsumedCapacity="TOTAL")
            self.capacity.add_response("pushed", gone, write=True)

    def push_refused(self, push: QueuedPush) -> int:
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=item_key(pushes_pk(push.clinic_id), f"{push.day.isoformat()}#{push.patient_id}"),
                UpdateExpression="ADD n :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": wire(1)},
                ReturnValues="UPDATED_NEW",
                ReturnConsumedCapacity="TOTAL",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return 0
        self.capacity.add_response("push_refused", response, write=True)
        return int(response["Attributes"]["n"]["N"])

    def drop_push(self, push: QueuedPush) -> None:
        key = item_key(pushes_pk(push.clinic_id), f"{push.day.isoformat()}#{push.patient_id}")
        response = self.client.delete_item(TableName=self.table_name, Key=key, ReturnConsumedCapacity="TOTAL")
        self.capacity.add_response("drop_push", response, write=True)

    def disable_device(self, patient_id: str, device_id: str, endpoint_arn: str) -> None:
        for _ in range(4):
            state = self.reminder_state(patient_id, "")
            current = state.device(device_id)
            if current is None or current.endpoint_arn != endpoint_arn or current.disabled or state.version == 0:
                return
            devices = tuple(
                Device(d.device_id, d.platform, d.endpoint_arn, d.token_hash, d.registered_at, True)
                if d.device_id == device_id
                else d
                for d in state.devices
            )
            try:
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key=item_key(keys.patient_pk(patient_id), REMINDERS_SK),
                    UpdateExpression="SET #v = :new, dv = :dv",
                    ConditionExpression="#v = :v",
                    ExpressionAttributeNames={"#v": "version"},
                    ExpressionAttributeValues={
                        ":new": wire(state.version + 1),
                        ":v": wire(state.version),
                        ":dv": wire(_devices_json(devices)),
                    },
                    ReturnConsumedCapacity="TOTAL",
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
            self.capacity.add_response("disable_device", response, write=True)
            return

    # -- leases ------------------------------------------------------------------------------------------------------
    def reminder_leases(self) -> dict[str, SweepLease]:
        out = {}
        for raw in self._query("reminder_leases", REMINDS_PK):
            clinic_id, lease = codec.sweep_lease_from_item(raw)
            out[clinic_id] = lease
        return out

    def claim_reminders(self, clinic_id: str, day: date, run_id: str, until: datetime, now: datetime) -> bool:
        key = item_key(REMINDS_PK, clinic_id)
        return self._lease_written(
            leases.claim(self.client, self.table_name, key, day=day, run_id=run_id, until=until, now=now)
        )

    def complete_reminders(self, clinic_id: str, day: date, run_id: str) -> bool:
        key = item_key(REMINDS_PK, clinic_id)
        return self._lease_written(leases.complete(self.client, self.table_name, key, day=day, run_id=run_id))

    # -- plumbing ----------------------------------------------------------------------------------------------------
    def _lease_written(self, response: Any) -> bool:
        if response is None:
            return False
        self.capacity.add_response("reminder_lease", response, write=True)
        return True

    def _transact(self, operation: str, actions: list[dict[str, Any]]) -> None:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            response = self.client.transact_write_items(TransactItems=actions, ReturnConsumedCapacity="TOTAL")
        except ClientError as error:
            if cancelled(error) is not None:
                raise VersionConflict(operation) from None
            raise
        for consumed in response.get("ConsumedCapacity", []):
            self.capacity.add(operation, float(consumed.get("CapacityUnits", 0)), write=True)

    def _query(self, operation: str, pk: str, *, after: str | None = None, only_keys: bool = False) -> Iterator[Raw]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk" + (" AND sk > :after" if after else ""),
            "ExpressionAttributeValues": {":pk": wire(pk), **({":after": wire(after)} if after else {})},
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if only_keys:
            request["ProjectionExpression"] = "sk"
        while True:
            response = self.client.query(**request)
            self.capacity.add_response(operation, response)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _devices_json(devices: Sequence[Device]) -> str:
    return json.dumps(
        [
            [d.device_id, d.platform, d.endpoint_arn, d.token_hash, d.registered_at.isoformat(), int(d.disabled)]
            for d in devices
        ],
        separators=(",", ":"),
    )


def _state(patient_id: str, clinic_id: str, raw: Raw | None) -> ReminderState:
    if raw is None:
        return ReminderState(patient_id, clinic_id)
    devices = tuple(
        Device(d[0], d[1], d[2], d[3], datetime.fromisoformat(d[4]), bool(d[5]))
        for d in json.loads(raw.get("dv", {}).get("S", "[]"))
    )
    marks = frozenset(f"{patient_id}#{mark}" for mark in raw.get("mk", {}).get("SS", ()))
    last = raw.get("lp", {}).get("S")
    return ReminderState(
        patient_id=patient_id,
        clinic_id=raw.get("cl", {}).get("S", clinic_id),
        version=int(raw["version"]["N"]),
        enabled=not raw.get("off", {}).get("BOOL", False),
        devices=devices,
        marks=marks,
        last_push=None if last is None else date.fromisoformat(last),
    )


def _push(clinic_id: str, raw: Raw) -> QueuedPush:
    day, _, patient_id = raw[SK]["S"].partition("#")
    endpoints = tuple(
        sorted((name.removeprefix(_ENDPOINT), value["S"]) for name, value in raw.items() if name.startswith(_ENDPOINT))
    )
    return QueuedPush(
        clinic_id=clinic_id,
        day=date.fromisoformat(day),
        patient_id=patient_id,
        title=raw["t"]["S"],
        body=raw["b"]["S"],
        data=json.loads(raw["dt"]["S"]),
        endpoints=endpoints,
        attempts=int(raw.get("n", {}).get("N", "0")),
    )
