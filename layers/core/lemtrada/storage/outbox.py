"""The sweep's outbox: notices waiting to go out in a clinic's digest for one local date.

Why an outbox beside the patient's NOTICE marks: the worker writes a notice here *before* it stores the mark on
the patient (`record_sweep`), so a crash between the two leaves a pending entry that the next publish sends,
never a mark without a message (a lost notice). Each entry has a dedupe key item, `KEY#<patient>#<notice key>`,
written in the same transaction with `attribute_not_exists`: a notice recomputed after a crash (even on a later
date) is never queued twice. Publishing deletes the pending entry and flips its key item to `sent` in one
transaction, after SNS accepted the message.

DynamoDB layout (RegimenTable, one partition per clinic; pending entries are read with one Query by prefix and
key items are never read, only checked):

| pk | sk | what |
|---|---|---|
| `OUTBOX#<clinic_id>` | `PENDING#<date>#<patient_id>#<notice key>` | a notice to publish: `item` (digest JSON) |
| `OUTBOX#<clinic_id>` | `KEY#<patient_id>#<notice key>` | dedupe: `state` pending or sent, `date`, `message_id` |
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

# DynamoDB transactions hold at most 100 actions; every outbox operation uses two per notice.
_PER_TRANSACTION = 50
_TRANSIENT_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


class OutboxError(Exception):
    """The outbox could not be written after retries: the sweep must fail loudly, not skip the patient."""


@dataclass(frozen=True, slots=True)
class QueuedNotice:
    """A notice as the worker hands it to the outbox: its key and its digest item."""

    key: str
    item: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A pending notice of a clinic's digest for one local date."""

    clinic_id: str
    date: date
    patient_id: str
    key: str
    item: Mapping[str, Any]


class Outbox(Protocol):
    """Pending notices per (clinic, local date), deduplicated by (patient, notice key) for all time."""

    def enqueue(self, clinic_id: str, day: date, patient_id: str, notices: Sequence[QueuedNotice]) -> list[str]:
        """Queue notices not queued before; returns the keys newly queued (already known keys are skipped)."""
        ...

    def retract(self, clinic_id: str, day: date, patient_id: str, keys: Iterable[str]) -> None:
        """Withdraw entries queued by an attempt that lost a version race (only those not yet sent)."""
        ...

    def pending(self, clinic_id: str) -> list[OutboxEntry]:
        """Every pending entry of a clinic, oldest date first."""
        ...

    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        """Remove entries from pending and remember their keys as sent (idempotent)."""
        ...


# ---- in memory ----------------------------------------------------------------------------------------------
@dataclass
class InMemoryOutbox:
    """Same rules as the DynamoDB outbox, in dictionaries."""

    entries: dict[tuple[str, date, str, str], OutboxEntry] = field(default_factory=dict)
    keys: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (clinic, patient, key) -> state

    def enqueue(self, clinic_id: str, day: date, patient_id: str, notices: Sequence[QueuedNotice]) -> list[str]:
        queued = []
        for notice in notices:
            dedupe = (clinic_id, patient_id, notice.key)
            if dedupe in self.keys:
                continue
            self.keys[dedupe] = "pending"
            self.entries[(clinic_id, day, patient_id, notice.key)] = OutboxEntry(
                clinic_id, day, patient_id, notice.key, dict(notice.item)
            )
            queued.append(notice.key)
        return queued

    def retract(self, clinic_id: str, day: date, patient_id: str, keys: Iterable[str]) -> None:
        for key in keys:
            if self.entries.pop((clinic_id, day, patient_id, key), None) is not None:
                self.keys.pop((clinic_id, patient_id, key), None)

    def pending(self, clinic_id: str) -> list[OutboxEntry]:
        found = [entry for entry in self.entries.values() if entry.clinic_id == clinic_id]
        return sorted(found, key=lambda entry: (entry.date, entry.patient_id, entry.key))

    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        for entry in entries:
            self.entries.pop((entry.clinic_id, entry.date, entry.patient_id, entry.key), None)
            self.keys[(entry.clinic_id, entry.patient_id, entry.key)] = "sent"


# ---- DynamoDB -----------------------------------------------------------------------------------------------
def _pk(clinic_id: str) -> str:
    return f"OUTBOX#{clinic_id}"


def _pending_sk(day: date, patient_id: str, key: str) -> str:
    return f"PENDING#{day.isoformat()}#{patient_id}#{key}"


def _key_sk(patient_id: str, key: str) -> str:
    return f"KEY#{patient_id}#{key}"


def _chunks[T](items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DynamoOutbox:
    """The outbox in RegimenTable, written with TransactWriteItems through a lazily created boto3 client.

    Throttling and 5xx are retried by botocore (standard mode); a cancelled transaction whose reasons are only
    transient (conflict, throttling) is retried here with jittered backoff; anything else raises OutboxError.
    """

    def __init__(
        self, table_name: str | None = None, client: Any | None = None, attempts: int = 6, backoff: float = 0.05
    ) -> None:
        self._table_name = table_name
        self._client = client
        self._attempts = attempts
        self._backoff = backoff
        self.read_units = 0.0  # what the pending queries cost (ReturnConsumedCapacity), for measurements

    @property
    def table_name(self) -> str:
        if self._table_name is None:
            self._table_name = os.environ["TABLE_NAME"]
        return self._table_name

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - lazy: the client is built on first use
            from botocore.config import Config  # noqa: PLC0415

            self._client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 8}))
        return self._client

    # -- writes ------------------------------------------------------------------------------------------------
    def enqueue(self, clinic_id: str, day: date, patient_id: str, notices: Sequence[QueuedNotice]) -> list[str]:
        queued: list[str] = []
        for chunk in _chunks(list(notices), _PER_TRANSACTION):
            remaining = list(chunk)
            while remaining:
                actions = []
                for notice in remaining:
                    actions.append(
                        {
                            "Put": {
                                "TableName": self.table_name,
                                "Item": {
                                    "pk": {"S": _pk(clinic_id)},
                                    "sk": {"S": _key_sk(patient_id, notice.key)},
                                    "state": {"S": "pending"},
                                    "date": {"S": day.isoformat()},
                                },
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        }
                    )
                    actions.append(
                        {
                            "Put": {
                                "TableName": self.table_name,
                                "Item": {
                                    "pk": {"S": _pk(clinic_id)},
                                    "sk": {"S": _pending_sk(day, patient_id, notice.key)},
                                    "patient_id": {"S": patient_id},
                                    "notice_key": {"S": notice.key},
                                    "date": {"S": day.isoformat()},
                                    "item": {"S": json.dumps(dict(notice.item), separators=(",", ":"))},
                                },
                            }
                        }
                    )
                failed = self._transact(actions)
                if failed is None:
                    queued.extend(notice.key for notice in remaining)
                    break
                # Keys already queued or sent make the whole transaction fail: drop them, retry the others.
                known = {index // 2 for index in failed}
                remaining = [notice for index, notice in enumerate(remaining) if index not in known]
        return queued

    def retract(self, clinic_id: str, day: date, patient_id: str, keys: Iterable[str]) -> None:
        for key in keys:
            actions = [
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": {"pk": {"S": _pk(clinic_id)}, "sk": {"S": _pending_sk(day, patient_id, key)}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": {"pk": {"S": _pk(clinic_id)}, "sk": {"S": _key_sk(patient_id, key)}},
                        "ConditionExpression": "#state = :pending",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {":pending": {"S": "pending"}},
                    }
                },
            ]
            self._transact(actions)  # a failed condition means it went out meanwhile: nothing to withdraw

    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        for chunk in _chunks(list(entries), _PER_TRANSACTION):
            actions: list[dict[str, Any]] = []
            for entry in chunk:
                actions.append(
                    {
                        "Delete": {
                            "TableName": self.table_name,
                            "Key": {
                                "pk": {"S": _pk(entry.clinic_id)},
                                "sk": {"S": _pending_sk(entry.date, entry.patient_id, entry.key)},
                            },
                        }
                    }
                )
                actions.append(
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": {
                                "pk": {"S": _pk(entry.clinic_id)},
                                "sk": {"S": _key_sk(entry.patient_id, entry.key)},
                            },
                            "UpdateExpression": "SET #state = :sent, message_id = :message, #date = :date",
                            "ExpressionAttributeNames": {"#state": "state", "#date": "date"},
                            "ExpressionAttributeValues": {
                                ":sent": {"S": "sent"},
                                ":message": {"S": message_id},
                                ":date": {"S": entry.date.isoformat()},
                            },
                        }
                    }
                )
            if self._transact(actions) is not None:  # pragma: no cover - no conditions in these actions
                raise OutboxError("marking digest entries sent failed")

    # -- reads -------------------------------------------------------------------------------------------------
    def pending(self, clinic_id: str) -> list[OutboxEntry]:
        entries: list[OutboxEntry] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(clinic_id)}, ":prefix": {"S": "PENDING#"}},
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        }
        while True:
            response = self.client.query(**request)
            self.read_units += float((response.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))
            for row in response.get("Items", []):
                entries.append(
                    OutboxEntry(
                        clinic_id=clinic_id,
                        date=date.fromisoformat(row["date"]["S"]),
                        patient_id=row["patient_id"]["S"],
                        key=row["notice_key"]["S"],
                        item=json.loads(row["item"]["S"]),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return entries
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- transactions --------------------------------------------------------------------------------------------
    def _transact(self, actions: list[dict[str, Any]]) -> set[int] | None:
        """Run a transaction; None when it committed, else the indexes whose conditions failed.

        Transient cancellations (conflict with another transaction, throttling) are retried with backoff and
        raise OutboxError when the attempts run out: the caller must not carry on as if it had been written.
        """
        from botocore.exceptions import ClientError  # noqa: PLC0415

        for attempt in range(self._attempts):
            try:
                self.client.transact_write_items(TransactItems=actions)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code != "TransactionCanceledException":
                    raise OutboxError(f"outbox write failed: {code}") from error
                reasons = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
                failed = {index for index, reason in enumerate(reasons) if reason == "ConditionalCheckFailed"}
                if failed:
                    return failed
                if not any(reason in _TRANSIENT_REASONS for reason in reasons) and reasons:
                    raise OutboxError(f"outbox transaction cancelled: {reasons}") from error
                time.sleep(self._backoff * (2**attempt) * (0.5 + random.random()))
                continue
            return None
        raise OutboxError("outbox transaction kept conflicting; giving up")
