"""The sweep's outbox: notices waiting to go out in a clinic's digest for one local date, in pages of ~1 KB.

Queueing is not done here: ``PatientRepository.record_sweep`` appends the patient's notices (one chunk, named
``<patient_id>#<version checked>``) to a page in the same version-checked transaction that stores the patient's
marks, so a notice is queued exactly when it is marked and the marks are the dedupe (the engine is asked with them
as sent). A write that lost a race wrote neither, so nothing is ever withdrawn. Each worker run fills its own pages
(``run`` is a token of the invocation) and starts the next page past ~1 KB: an append costs about what a 1 KB item
costs, whatever the night's size, and a page stays far below DynamoDB's 400 KB.

This adapter lists the pages (one Query per clinic) and retires them once SNS accepted the digest part holding
their notices: a page left empty is deleted, a page with notices of a later part is rewritten without those sent.

| pk | sk | what |
|---|---|---|
| `OUTBOX#<clinic_id>` | `PAGE#<date>#<shard>#<run>#<nnnn>` | a chunk per patient: `[[key, digest item], ...]` |
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from lemtrada.storage import errors, keys, packing
from lemtrada.storage.capacity import CapacityMeter
from lemtrada.storage.client import LazyClient
from lemtrada.storage.ports import OutboxEntry, OutboxError, QueuedNotice
from lemtrada.storage.wire import Raw, item_key

PageKey = tuple[str, str]  # clinic, page sort key
_TRANSIENT = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"})
"""What is left of throttling after botocore's own retries: a few more tries with backoff here."""


class DynamoOutbox:
    """The outbox pages in RegimenTable, through the storage layer's client.

    Throttling and 5xx are retried by botocore (storage.client); what is left after its retries raises OutboxError.
    ``pending`` remembers each page it listed, so ``mark_sent`` knows what a page still holds after a part.
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
        self._pages: dict[PageKey, dict[str, list[QueuedNotice]]] = {}
        self.capacity = CapacityMeter()  # what every call cost (ReturnConsumedCapacity), for measurements

    @property
    def client(self) -> Any:
        return self._client.get()

    @property
    def read_units(self) -> float:
        """Read units of the pending queries so far."""
        return self.capacity.read_units

    # -- reads -------------------------------------------------------------------------------------------------
    def pending(self, clinic_id: str) -> list[OutboxEntry]:
        # What this process knew of the clinic's pages is replaced by what the table holds now (a warm container
        # keeps no page from an earlier night).
        self._pages = {key: chunks for key, chunks in self._pages.items() if key[0] != clinic_id}
        entries: list[OutboxEntry] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.outbox_pk(clinic_id)},
                ":prefix": {"S": keys.PAGE_PREFIX},
            },
            "ConsistentRead": True,
            "ReturnConsumedCapacity": "TOTAL",
        }
        while True:
            response = self._call("outbox_pending", self.client.query, request, write=False)
            for row in response.get("Items", []):
                sk = row["sk"]["S"]
                chunks = packing.outbox_page_chunks(row)
                self._pages[(clinic_id, sk)] = chunks
                entries += _entries(clinic_id, sk, chunks)
            if "LastEvaluatedKey" not in response:
                return sorted(entries, key=lambda e: (e.date, e.patient_id, e.key, e.page))
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- writes ------------------------------------------------------------------------------------------------
    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        """Per page touched: Delete when nothing is left, else SET the chunks that keep notices and REMOVE the
        emptied ones. Unconditional, so a repeat (or a page already gone) changes nothing more."""
        sent: dict[PageKey, set[tuple[str, str]]] = {}
        for entry in entries:
            sent.setdefault((entry.clinic_id, entry.page), set()).add((entry.chunk, entry.key))
        for page_key, done in sent.items():
            chunks = self._pages.get(page_key)
            if chunks is None:
                raise OutboxError("mark_sent needs the pages this outbox listed (pending) before")
            if not chunks:
                continue  # retired already (a repeat)
            touched = {chunk for chunk, _ in done}
            left = {
                name: [n for n in notices if (name, n.key) not in done] if name in touched else notices
                for name, notices in chunks.items()
            }
            key = item_key(keys.outbox_pk(page_key[0]), page_key[1])
            if not any(left.values()):
                request: dict[str, Any] = {"TableName": self.table_name, "Key": key, "ReturnConsumedCapacity": "TOTAL"}
                self._call("outbox_sent", self.client.delete_item, request)
                self._pages[page_key] = {}
                continue
            names: dict[str, str] = {}
            values: dict[str, Raw] = {}
            sets, removes = [], []
            for number, name in enumerate(sorted(touched & set(chunks))):
                names[f"#c{number}"] = name
                if left[name]:
                    values[f":c{number}"] = {"S": packing.outbox_chunk(left[name])}
                    sets.append(f"#c{number} = :c{number}")
                else:
                    removes.append(f"#c{number}")
            expression = " ".join(
                ([f"SET {', '.join(sets)}"] if sets else []) + ([f"REMOVE {', '.join(removes)}"] if removes else [])
            )
            if expression:
                request = {
                    "TableName": self.table_name,
                    "Key": key,
                    "UpdateExpression": expression,
                    "ExpressionAttributeNames": names,
                    "ReturnConsumedCapacity": "TOTAL",
                }
                if values:
                    request["ExpressionAttributeValues"] = values
                self._call("outbox_sent", self.client.update_item, request)
            self._pages[page_key] = {name: notices for name, notices in left.items() if notices}

    # -- calls -------------------------------------------------------------------------------------------------
    def _call(
        self, operation: str, method: Callable[..., dict[str, Any]], request: dict[str, Any], *, write: bool = True
    ) -> dict[str, Any]:
        """One request, its capacity metered; botocore retries throttling, a few more tries here, then OutboxError
        (the caller must not carry on as if it had been done)."""
        for attempt in range(self._attempts):
            try:
                response = method(**request)
            except ClientError as error:
                code = errors.error_code(error)
                if code in _TRANSIENT and attempt < self._attempts - 1:
                    time.sleep(self._backoff * (2**attempt) * (0.5 + random.random()))
                    continue
                raise OutboxError(f"outbox call failed: {code}") from error
            self.capacity.add_response(operation, response, write=write)
            return response
        raise OutboxError("outbox call kept failing; giving up")  # pragma: no cover - the loop returns or raises


def _entries(clinic_id: str, sk: str, chunks: dict[str, list[QueuedNotice]]) -> list[OutboxEntry]:
    day = keys.outbox_page_date(sk)
    return [
        OutboxEntry(
            clinic_id=clinic_id,
            date=day,
            patient_id=keys.outbox_chunk_patient(name),
            key=notice.key,
            item=notice.item,
            page=sk,
            chunk=name,
        )
        for name, notices in chunks.items()
        for notice in notices
    ]
