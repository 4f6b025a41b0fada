"""The sweep's concrete parts (DynamoDB repository and outbox, SNS publisher), built once per environment.

Tests and the local stack swap them with ``use``; nothing here runs at import time.
"""

from __future__ import annotations

from functools import cache

from lemtrada.notify.publisher import DigestPublisher, SnsDigestPublisher
from lemtrada.services.sweep import SweepService
from lemtrada.storage.outbox import DynamoOutbox
from lemtrada.storage.ports import Outbox, PatientRepository

_repository: PatientRepository | None = None
_outbox: Outbox | None = None
_publisher: DigestPublisher | None = None


@cache
def _default_repository() -> PatientRepository:
    from lemtrada.web import runtime  # noqa: PLC0415 - the shared repository, built on first use

    return runtime.repository()


@cache
def _default_outbox() -> Outbox:
    return DynamoOutbox()


@cache
def _default_publisher() -> DigestPublisher:
    return SnsDigestPublisher()


def service() -> SweepService:
    """The sweep wired to the environment (``TABLE_NAME``, ``TOPIC_ARN``) unless overridden."""
    return SweepService(
        _repository or _default_repository(),
        _outbox or _default_outbox(),
        _publisher or _default_publisher(),
    )


def use(
    repository: PatientRepository | None = None, outbox: Outbox | None = None, publisher: DigestPublisher | None = None
) -> None:
    """Swap parts (tests, local stack); ``use()`` restores the AWS-backed ones."""
    global _repository, _outbox, _publisher
    _repository, _outbox, _publisher = repository, outbox, publisher
    _default_repository.cache_clear()
    _default_outbox.cache_clear()
    _default_publisher.cache_clear()
