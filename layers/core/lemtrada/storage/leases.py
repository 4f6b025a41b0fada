"""A clinic's lease of one local date, as the hourly runs take it (the sweep's ``SWEEPS`` items, the reminder run's
``REMINDS`` items): one conditional UpdateItem to claim, one to complete.

A run may claim the clinic's date when no lease exists, the lease is of an earlier date, or it is this date's, not
done, and either its own (a retry) or expired; completing needs the lease to be this run's for this date. ISO dates
and UTC instants compare as strings in the same order as the values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from lemtrada.storage.model import SweepLeaseItem
from lemtrada.storage.wire import Raw, wire

_CLAIM = "SET #d = :day, #run = :run, #until = :until, #done = :false"
_CLAIMABLE = (
    "attribute_not_exists(pk) OR #d < :day OR (#d = :day AND #done = :false AND (#run = :run OR #until <= :now))"
)
_COMPLETE = "SET #done = :true"
_COMPLETABLE = "#d = :day AND #run = :run"
_NAMES = {
    "#d": SweepLeaseItem.date,
    "#run": SweepLeaseItem.run_id,
    "#until": SweepLeaseItem.until,
    "#done": SweepLeaseItem.done,
}


def utc(instant: datetime) -> str:
    """A lease instant as stored: UTC, ISO 8601, so string order is time order."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def claim(client: Any, table: str, key: Raw, *, day: date, run_id: str, until: datetime, now: datetime) -> Any:
    """The UpdateItem response once the run holds the clinic's ``day`` until ``until``; None when it may not."""
    values = {
        ":day": wire(day.isoformat()),
        ":run": wire(run_id),
        ":until": wire(utc(until)),
        ":now": wire(utc(now)),
        ":false": wire(False),
    }
    return _update(client, table, key, update=_CLAIM, condition=_CLAIMABLE, values=values)


def complete(client: Any, table: str, key: Raw, *, day: date, run_id: str) -> Any:
    """The UpdateItem response once the run's lease of ``day`` is marked done; None when it is not the run's."""
    values = {":day": wire(day.isoformat()), ":run": wire(run_id), ":true": wire(True)}
    return _update(client, table, key, update=_COMPLETE, condition=_COMPLETABLE, values=values)


def _update(client: Any, table: str, key: Raw, *, update: str, condition: str, values: dict[str, Raw]) -> Any:
    used = {name: stored for name, stored in _NAMES.items() if name in update or name in condition}
    try:
        return client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=used,
            ExpressionAttributeValues=values,
            ReturnConsumedCapacity="TOTAL",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
