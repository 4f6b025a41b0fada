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
import random
import time
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from lemtrada.storage import errors
from lemtrada.storage.client import LazyClient
from lemtrada.storage.ports import OutboxEntry, OutboxError, QueuedNotice
from lemtrada.storage.transactions import Transaction

# DynamoDB transactions hold at most 100 actions; every outbox operation uses two per notice.
_PER_TRANSACTION = 50
_STATE = {"#state": "state"}


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
    """The outbox in RegimenTable, written with TransactWriteItems through the storage layer's client.

    Throttling and 5xx are retried by botocore (storage.client); a cancelled transaction whose reasons are only
    transient (conflict, throttling) is retried here with jittered backoff; anything else raises OutboxError.
    """

    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        attempts: int = 6,
        backoff: float = 0.05,
        *,
        region: str | None = None,
        host: str | None = None,
    ) -> None:
        """``client`` is the bootstrap's shared one; without it one is built on first use from ``region`` (and
        ``host``, DynamoDB Local)."""
        self.table_name = table_name
        if client is None and region is None:
            raise ValueError("DynamoOutbox needs a client or a region")
        self._client = LazyClient(region or "", host, client)
        self._attempts = attempts
        self._backoff = backoff
        self.read_units = 0.0  # what the pending queries cost (ReturnConsumedCapacity), for measurements

    @property
    def client(self) -> Any:
        return self._client.get()

    # -- writes ------------------------------------------------------------------------------------------------
    def enqueue(self, clinic_id: str, day: date, patient_id: str, notices: Sequence[QueuedNotice]) -> list[str]:
        queued: list[str] = []
        for chunk in _chunks(list(notices), _PER_TRANSACTION):
            remaining = list(chunk)
            while remaining:
                write = Transaction(self.table_name)
                for notice in remaining:
                    key_item = {
                        "pk": {"S": _pk(clinic_id)},
                        "sk": {"S": _key_sk(patient_id, notice.key)},
                        "state": {"S": "pending"},
                        "date": {"S": day.isoformat()},
                    }
                    write.put("key", key_item, "attribute_not_exists(pk)")
                    entry = {
                        "pk": {"S": _pk(clinic_id)},
                        "sk": {"S": _pending_sk(day, patient_id, notice.key)},
                        "patient_id": {"S": patient_id},
                        "notice_key": {"S": notice.key},
                        "date": {"S": day.isoformat()},
                        "item": {"S": json.dumps(dict(notice.item), separators=(",", ":"))},
                    }
                    write.put("entry", entry)
                failed = self._transact(write)
                if failed is None:
                    queued.extend(notice.key for notice in remaining)
                    break
                # Keys already queued or sent make the whole transaction fail: drop them, retry the others.
                known = {index // 2 for index in failed}
                remaining = [notice for index, notice in enumerate(remaining) if index not in known]
        return queued

    def retract(self, clinic_id: str, day: date, patient_id: str, keys: Iterable[str]) -> None:
        for key in keys:
            write = Transaction(self.table_name)
            write.delete("entry", (_pk(clinic_id), _pending_sk(day, patient_id, key)), "attribute_exists(pk)")
            pending = {":pending": {"S": "pending"}}
            write.delete(
                "key", (_pk(clinic_id), _key_sk(patient_id, key)), "#state = :pending", names=_STATE, values=pending
            )
            self._transact(write)  # a failed condition means it went out meanwhile: nothing to withdraw

    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        for chunk in _chunks(list(entries), _PER_TRANSACTION):
            write = Transaction(self.table_name)
            for entry in chunk:
                write.delete("entry", (_pk(entry.clinic_id), _pending_sk(entry.date, entry.patient_id, entry.key)))
                write.update(
                    "key",
                    (_pk(entry.clinic_id), _key_sk(entry.patient_id, entry.key)),
                    "SET #state = :sent, message_id = :message, #date = :date",
                    names={**_STATE, "#date": "date"},
                    values={
                        ":sent": {"S": "sent"},
                        ":message": {"S": message_id},
                        ":date": {"S": entry.date.isoformat()},
                    },
                )
            if self._transact(write) is not None:  # pragma: no cover - no conditions in these actions
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
    def _transact(self, write: Transaction) -> set[int] | None:
        """Run a transaction; None when it committed, else the indexes whose conditions failed.

        Transient cancellations (conflict with another transaction, throttling) are retried with backoff and
        raise OutboxError when the attempts run out: the caller must not carry on as if it had been written.
        """
        for attempt in range(self._attempts):
            try:
                write.commit(self.client)
            except errors.TransactionCancelled as cancelled:
                if cancelled.failed_conditions:
                    return cancelled.failed_conditions
                if not cancelled.transient:
                    raise OutboxError(f"outbox transaction cancelled: {cancelled.codes}") from cancelled
                time.sleep(self._backoff * (2**attempt) * (0.5 + random.random()))
                continue
            except ClientError as error:
                raise OutboxError(f"outbox write failed: {errors.error_code(error)}") from error
            return None
        raise OutboxError("outbox transaction kept conflicting; giving up")
