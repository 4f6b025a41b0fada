"""The one place the application is wired: settings from the environment, then every concrete part from them.

``settings()`` parses the environment the template gives each function once, into ``Settings``; a missing or
malformed variable fails with its name (no silent default table or region). The parts (repository, outbox,
publisher, clock) are built from it on first use, so a cold start pays only for what its requests touch and a
test's AWS mock is in place before a client exists. Tests and the local stack pass their own parts with ``use``
(``use()`` goes back to the real ones and re-reads the environment).

Layering: functions -> web -> bootstrap -> services -> storage | notify -> regimen (pyproject.toml, import-linter).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lemtrada.services.actor import Clock, system_clock

if TYPE_CHECKING:  # the parts are imported where they are built: an HTTP function never loads the sweep
    from lemtrada.notify.publisher import DigestPublisher
    from lemtrada.notify.push import PushGateway
    from lemtrada.services.sweep import SweepService
    from lemtrada.storage.ports import Outbox, PatientRepository, ReminderStore


class Settings(BaseModel):
    """The functions' environment (template.yaml, Globals), parsed once; names are the variables'."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=1)
    topic_arn: str = Field(alias="TOPIC_ARN", min_length=1)
    due_shards: int = Field(alias="DUE_SHARDS", ge=1, le=100)
    region: str = Field(alias="AWS_REGION", min_length=1)
    dynamodb_endpoint: str | None = Field(default=None, alias="AWS_ENDPOINT_URL_DYNAMODB")
    """Only the local stack and tests set it (botocore reads it too); None means AWS."""
    worklist_url: str | None = Field(default=None, alias="WORKLIST_URL", pattern=r"^https?://\S+$", max_length=2000)
    """The clinic worklist the digest e-mail points to (`{clinic_id}` replaced); None: the e-mail names none."""
    apns_application_arn: str | None = Field(default=None, alias="APNS_PLATFORM_APPLICATION_ARN", max_length=2048)
    fcm_application_arn: str | None = Field(default=None, alias="FCM_PLATFORM_APPLICATION_ARN", max_length=2048)
    """The SNS platform applications of patient reminders (DESIGN 9); empty: that platform is not configured."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Only this model's variables are read (an empty one counts as missing); an error names the variables
        and never echoes a value, so no credential of the environment reaches a log."""
        source = os.environ if environ is None else environ
        names = [str(field.alias) for field in cls.model_fields.values()]
        values = {name: source[name] for name in names if source.get(name)}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise SettingsError(f"the function's environment is incomplete or malformed: {problems}") from None


class SettingsError(RuntimeError):
    """A variable of the functions' environment is missing or malformed (fails the cold start)."""


@dataclass(frozen=True, slots=True)
class _Overrides:
    repository: PatientRepository | None = None
    outbox: Outbox | None = None
    publisher: DigestPublisher | None = None
    clock: Clock | None = None
    reminder_store: ReminderStore | None = None
    push_gateway: PushGateway | None = None


_overrides = _Overrides()


@cache
def settings() -> Settings:
    """The environment, parsed on first use and kept for the execution environment."""
    return Settings.from_environment()


@cache
def aws_session() -> Any:
    """One botocore session per execution environment: every client (DynamoDB, SNS) comes from it, so the
    endpoint and partition data it loads are loaded once."""
    from botocore.session import get_session  # noqa: PLC0415 - built on first use only

    return get_session()


@cache
def _dynamodb() -> Any:
    """One DynamoDB client for the repository, the outbox and the idempotency store (storage.client's Config):
    building a client parses the service model and endpoint rules, a large share of a write's cold start."""
    from lemtrada.storage.client import dynamodb_client  # noqa: PLC0415 - built on first use only

    current = settings()
    return dynamodb_client(current.region, current.dynamodb_endpoint, session=aws_session())


def dynamodb() -> Any:
    """The execution environment's one DynamoDB client (``web.idempotency`` keeps its records through it)."""
    return _dynamodb()


@cache
def _repository() -> PatientRepository:
    from lemtrada.storage.repository import DynamoPatientRepository  # noqa: PLC0415 - built on first use only

    current = settings()
    return DynamoPatientRepository(
        current.table_name, region=current.region, due_shards=current.due_shards, client=_dynamodb()
    )


@cache
def _outbox() -> Outbox:
    from lemtrada.storage.outbox import DynamoOutbox  # noqa: PLC0415 - the sweep's functions only

    return DynamoOutbox(settings().table_name, client=_dynamodb())


@cache
def _publisher() -> DigestPublisher:
    from lemtrada.notify.publisher import SnsDigestPublisher  # noqa: PLC0415 - the sweep's and recording's functions

    return SnsDigestPublisher(settings().topic_arn)


@cache
def _reminder_store() -> ReminderStore:
    from lemtrada.storage.reminders import DynamoReminderStore  # noqa: PLC0415 - the reminder functions only

    return DynamoReminderStore(settings().table_name, client=_dynamodb())


@cache
def _sns_client() -> Any:
    """One SNS client for mobile push per execution environment (from the shared botocore session)."""
    from botocore.config import Config  # noqa: PLC0415 - the reminder functions only

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
    return aws_session().create_client("sns", region_name=settings().region, config=config)


def _push_gateway() -> PushGateway:
    """The platform applications are read from the environment at each call (cheap): on Lambda it is the
    function's own, and the local stack runs every function in one process, each with its own variables."""
    from lemtrada.notify.push import SnsPushGateway  # noqa: PLC0415 - the reminder functions only

    current = Settings.from_environment()
    platforms = {"apns": current.apns_application_arn, "fcm": current.fcm_application_arn}
    return SnsPushGateway(platforms, client=_sns_client())


def reminder_store() -> ReminderStore:
    return _overrides.reminder_store or _reminder_store()


def push_gateway() -> PushGateway:
    return _overrides.push_gateway or _push_gateway()


def repository() -> PatientRepository:
    """The patient repository (DynamoDB, ``TABLE_NAME``) unless a test passed its own."""
    return _overrides.repository or _repository()


def outbox() -> Outbox:
    return _overrides.outbox or _outbox()


def publisher() -> DigestPublisher:
    return _overrides.publisher or _publisher()


def clock() -> Clock:
    return _overrides.clock or system_clock


def sweep() -> SweepService:
    """The sweep on the repository, the outbox and the digest publisher."""
    from lemtrada.services.sweep import SweepService  # noqa: PLC0415 - the sweep's functions only

    return SweepService(repository(), outbox(), publisher(), worklist_url=settings().worklist_url)


def use(
    *,
    repository: PatientRepository | None = None,
    outbox: Outbox | None = None,
    publisher: DigestPublisher | None = None,
    clock: Clock | None = None,
    reminder_store: ReminderStore | None = None,
    push_gateway: PushGateway | None = None,
) -> None:
    """The one override (tests, local stack): the parts given replace the real ones; ``use()`` restores them
    and forgets what was built, so the next use re-reads the environment (a test's fresh AWS mock)."""
    global _overrides  # noqa: PLW0603 - one wiring per execution environment by design
    _overrides = _Overrides(
        repository=repository,
        outbox=outbox,
        publisher=publisher,
        clock=clock,
        reminder_store=reminder_store,
        push_gateway=push_gateway,
    )
    for built in (settings, aws_session, _dynamodb, _repository, _outbox, _publisher, _reminder_store, _sns_client):
        built.cache_clear()
