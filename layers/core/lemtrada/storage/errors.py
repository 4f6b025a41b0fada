"""The one place DynamoDB's errors become domain errors (services and the sweep never see a botocore error code).

- A cancelled transaction: ``ConditionalCheckFailed`` on the item labelled ``version`` is a stale read
  (VersionConflict); on any other label the thing exists already (AlreadyExists(label)); a conflict with another
  transaction is a concurrent write (VersionConflict).
- Throttling and 5xx are retried by botocore (one Config, storage.client); what is left after the retries
  propagates unchanged, and the API answers it as a 5xx problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from lemtrada.storage.ports import AlreadyExists, StorageError, VersionConflict

CONDITION_FAILED = "ConditionalCheckFailed"
TRANSIENT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
"""Cancellation reasons that a retry of the same transaction can clear."""


class TransactionCancelled(StorageError):
    """DynamoDB cancelled a transaction; ``codes`` follow the order of its actions (None: that action was fine)."""

    def __init__(self, codes: Sequence[str | None]) -> None:
        super().__init__(f"transaction cancelled: {list(codes)}")
        self.codes = list(codes)

    @property
    def failed_conditions(self) -> set[int]:
        """Indexes of the actions whose condition failed."""
        return {index for index, code in enumerate(self.codes) if code == CONDITION_FAILED}

    @property
    def transient(self) -> bool:
        """True when no condition failed and a reason is one a retry can clear (or DynamoDB gave none)."""
        if self.failed_conditions:
            return False
        return not self.codes or any(code in TRANSIENT_REASONS for code in self.codes)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def cancelled(error: ClientError) -> TransactionCancelled | None:
    """The cancellation a TransactWriteItems error stands for, or None when it is another error."""
    if error_code(error) != "TransactionCanceledException":
        return None
    reasons: list[Any] = list(error.response.get("CancellationReasons") or [])
    return TransactionCancelled([reason.get("Code") for reason in reasons])


def domain_failure(labels: Sequence[str], codes: Sequence[str | None]) -> StorageError | None:
    """Which domain error a cancelled repository transaction means: a duplicate wins over a stale version."""
    failed = [label for label, code in zip(labels, codes, strict=False) if code == CONDITION_FAILED]
    for label in failed:
        if label != "version":
            return AlreadyExists(label)
    if failed:
        return VersionConflict("the record changed since it was read")
    if any(code == "TransactionConflict" for code in codes):
        return VersionConflict("a concurrent write to the same record")
    return None
