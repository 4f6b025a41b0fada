"""The concrete parts a function runs with, built once per execution environment and replaceable in tests."""

from __future__ import annotations

from functools import cache

from lemtrada.services.actor import Clock, system_clock
from lemtrada.storage.ports import PatientRepository

_override: PatientRepository | None = None
_clock: Clock = system_clock


@cache
def _dynamodb_repository() -> PatientRepository:
    from lemtrada.storage.repository import DynamoPatientRepository  # noqa: PLC0415 - built on first use only

    return DynamoPatientRepository()


def repository() -> PatientRepository:
    """The DynamoDB repository named by ``TABLE_NAME`` (built on first use, after a test's AWS mock started)."""
    return _override if _override is not None else _dynamodb_repository()


def clock() -> Clock:
    return _clock


def use(repository_override: PatientRepository | None = None, clock_override: Clock | None = None) -> None:
    """Swap the repository or clock (tests); ``use()`` restores DynamoDB and the system clock."""
    global _override, _clock  # noqa: PLW0603 - one per execution environment by design
    _override = repository_override
    _clock = clock_override or system_clock
    _dynamodb_repository.cache_clear()
