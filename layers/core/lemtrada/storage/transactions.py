"""One TransactWriteItems call being assembled, each action labelled with what its condition protects.

The labels follow the order of the actions, which is the order of DynamoDB's cancellation reasons, so
storage.errors can say which condition failed ("version": a stale read; "infusion", "patient", ...: a duplicate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lemtrada.storage import errors
from lemtrada.storage.ports import check_transaction_size
from lemtrada.storage.wire import Raw, item_key, wire


@dataclass(slots=True)
class Transaction:
    table: str
    actions: list[tuple[str, Raw]] = field(default_factory=list)

    def put(
        self,
        label: str,
        item: Raw,
        condition: str | None = None,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Raw] | None = None,
    ) -> None:
        entry: Raw = {"TableName": self.table, "Item": item}
        self.actions.append((label, {"Put": _conditioned(entry, condition, names, values)}))

    def update(
        self,
        label: str,
        key: tuple[str, str],
        expression: str,
        condition: str | None = None,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Raw] | None = None,
    ) -> None:
        """An update of the item ``key`` (pk, sk) with ``#``-placeholders in ``names`` and ``:``-ones in
        ``values``."""
        entry: Raw = {"TableName": self.table, "Key": item_key(*key), "UpdateExpression": expression}
        self.actions.append((label, {"Update": _conditioned(entry, condition, names, values)}))

    def delete(
        self,
        label: str,
        key: tuple[str, str],
        condition: str | None = None,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Raw] | None = None,
    ) -> None:
        entry: Raw = {"TableName": self.table, "Key": item_key(*key)}
        self.actions.append((label, {"Delete": _conditioned(entry, condition, names, values)}))

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.actions]

    def __len__(self) -> int:
        return len(self.actions)

    def commit(self, client: Any) -> dict[str, Any]:
        """Send it; raises errors.TransactionCancelled (with the reasons in action order) when DynamoDB cancels."""
        check_transaction_size(len(self.actions))
        try:
            response: dict[str, Any] = client.transact_write_items(
                TransactItems=[action for _, action in self.actions], ReturnConsumedCapacity="INDEXES"
            )
        except ClientError as error:
            cancellation = errors.cancelled(error)
            if cancellation is None:
                raise
            raise cancellation from error
        return response


def _conditioned(
    entry: Raw, condition: str | None, names: Mapping[str, str] | None, values: Mapping[str, Raw] | None
) -> Raw:
    if condition is not None:
        entry["ConditionExpression"] = condition
    if names:
        entry["ExpressionAttributeNames"] = dict(names)
    if values:
        entry["ExpressionAttributeValues"] = dict(values)
    return entry


def set_or_remove(attributes: Mapping[str, Any], start: int = 0) -> tuple[str, dict[str, str], dict[str, Raw]]:
    """``SET`` the attributes that have a value and ``REMOVE`` the None ones, with numbered placeholders."""
    names: dict[str, str] = {}
    values: dict[str, Raw] = {}
    sets: list[str] = []
    removes: list[str] = []
    for number, (name, value) in enumerate(attributes.items(), start=start):
        names[f"#a{number}"] = name
        if value is None:
            removes.append(f"#a{number}")
        else:
            values[f":a{number}"] = wire(value)
            sets.append(f"#a{number} = :a{number}")
    parts = ([f"SET {', '.join(sets)}"] if sets else []) + ([f"REMOVE {', '.join(removes)}"] if removes else [])
    return " ".join(parts), names, values
