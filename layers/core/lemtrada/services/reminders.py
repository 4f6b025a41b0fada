"""Patient reminders (DESIGN 9): the patient's devices and preference, and the hourly run that pushes.

**Devices** (``/me/devices``, ``/me/reminders``): a patient's phones as SNS platform endpoints. The token is
handed to SNS and hashed (so the same body again is a no-op), never stored, answered or logged.

**The hourly run**: for each clinic whose local hour has reached its ``reminder_hour`` (and is before
``LAST_HOUR``: a missed hour is caught up later the same day, never at night) and whose local date is not done,
claim the date (a lease, as the sweep's), then

1. *queue*: for each patient of the clinic with a device and reminders on, compute the day's push with the pure
   engine (``regimen.reminders``), and in one version-checked transaction mark its keys and queue it;
2. *deliver*: publish each queued push (a crashed run's leftovers included) once per distinct endpoint, only
   while the endpoint still names this patient (SNS hands an endpoint to whoever registers its token next),
   forgetting each endpoint once SNS accepted it; a push SNS keeps refusing expires (a day past its date, or 24
   refused runs);
3. mark the clinic's date done.

Exactly once: a key is marked exactly when its push is queued, and the engine is asked with the marks as sent, so
a retry queues nothing twice; a queued push leaves the outbox only after SNS accepted it. The one duplicate window
is a crash between SNS accepting a push for a device and ``pushed`` forgetting that endpoint (docs/DECISIONS.md).
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from lemtrada.notify.push import EndpointGone, PlatformNotConfigured, PushError, PushGateway
from lemtrada.regimen.protocol import Protocol, protocol_for
from lemtrada.regimen.records import Clinic
from lemtrada.regimen.reminders import push_for
from lemtrada.services.actor import Actor, Clock, Role
from lemtrada.services.base import UseCase, retry_on_conflict
from lemtrada.services.errors import NotFound, RuleRejected, Violation
from lemtrada.services.views import DevicesView, DeviceView, RemindersView
from lemtrada.storage.ports import (
    MAX_DEVICES,
    Device,
    PatientRepository,
    QueuedPush,
    ReminderState,
    ReminderStore,
    StoredClinic,
    SweepLease,
)

logger = logging.getLogger(__name__)

LAST_HOUR = 21
"""No reminder is pushed from 21:00 local on: a run that missed the clinic's hour catches up until then."""

WORKERS = 8
"""Patients queued and delivered at once by one run: each step waits on DynamoDB or SNS (~10 ms), so a run of
10,000 pushes stays far below the function's 15 minutes."""

MAX_PUSH_ATTEMPTS = 24
"""Runs in which SNS may refuse a queued push before it is given up (about two days of hourly runs)."""

PUSH_LIFETIME = timedelta(days=1)
"""A queued push is given up once the clinic's date is past its own date by more than this: yesterday's reminder
is still worth a push, the day before's is not (the next date's push says what is owed by then)."""

LEASE = timedelta(minutes=20)
"""How long a run holds a clinic's date: longer than the function's timeout (15 minutes)."""


def device_view(device: Device) -> DeviceView:
    return DeviceView(
        device_id=device.device_id,
        platform="fcm" if device.platform == "fcm" else "apns",
        registered_at=device.registered_at,
        enabled=not device.disabled,
    )


def token_hash(platform: str, token: str) -> str:
    return hashlib.sha256(f"{platform}\n{token}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class DeviceSaved:
    view: DeviceView
    created: bool


class Devices(UseCase):
    """``/me/devices`` and ``/me/reminders``: patients only (anyone else, or an unlinked patient: 404)."""

    def __init__(self, repository: PatientRepository, store: ReminderStore, gateway: PushGateway, clock: Clock) -> None:
        super().__init__(repository, clock)
        self.store = store
        self.gateway = gateway

    def _state(self, actor: Actor) -> ReminderState:
        patient_id = self.repository.patient_id_for_user(actor.sub) if actor.is_patient else None
        if patient_id is None:
            raise NotFound("no patient is linked to this user")
        context = self.patient(actor, patient_id)
        return self.store.reminder_state(patient_id, context.stored.clinic_id)

    def list_devices(self, actor: Actor) -> DevicesView:
        state = self._state(actor)
        return DevicesView(
            devices=[device_view(d) for d in state.devices], reminders=RemindersView(enabled=state.enabled)
        )

    def put_device(self, actor: Actor, device_id: str, platform: str, token: str) -> DeviceSaved:
        """Register (or re-register) a device; the same platform and token again changes nothing."""
        digest = token_hash(platform, token)
        created_endpoints: list[str] = []

        def attempt() -> DeviceSaved:
            state = self._state(actor)
            existing = state.device(device_id)
            if existing is not None and existing.token_hash == digest and not existing.disabled:
                return DeviceSaved(device_view(existing), created=False)
            # A reinstall registers a new device id with the token of a device it replaces: that one goes.
            if existing is None and sum(d.token_hash != digest for d in state.devices) >= MAX_DEVICES:
                raise RuleRejected(
                    f"at most {MAX_DEVICES} devices per patient",
                    [Violation("too_many_devices", f"at most {MAX_DEVICES} devices", "device_id")],
                )
            user_data = f"{state.patient_id}/{device_id}"
            try:
                reenable = existing is not None and existing.disabled
                arn = self.gateway.create_endpoint(platform, token, user_data, enable=reenable)
            except PlatformNotConfigured:
                raise RuleRejected(
                    f"push to {platform} is not configured",
                    [Violation("platform_not_configured", f"no {platform} platform application", "platform")],
                ) from None
            created_endpoints.append(arn)
            device = Device(device_id, platform, arn, digest, self.clock())
            # SNS answers the endpoint that already exists for a token (and this device takes it over): any other
            # device of this patient on the same token or endpoint is that phone's earlier registration. Dropped in
            # the same write, so one endpoint is one device and gets each push once.
            same = tuple(
                d
                for d in state.devices
                if d.device_id != device_id and (d.token_hash == digest or d.endpoint_arn == arn)
            )
            others = tuple(d for d in state.devices if d.device_id != device_id and d not in same)
            audit = self.audit(actor, Role.PATIENTS, "device.registered", f"DEVICE#{device_id}")
            self.store.save_reminder_state(replace(state, devices=(*others, device)), audit)
            for old in (existing, *same):
                if old is not None and old.endpoint_arn != arn:
                    self._forget_endpoint(old.endpoint_arn, f"{state.patient_id}/{old.device_id}")
            return DeviceSaved(device_view(device), created=existing is None)

        return retry_on_conflict(attempt)

    def delete_device(self, actor: Actor, device_id: str) -> None:
        """Forget the device and delete its endpoint; an unknown device is already gone (idempotent)."""

        def attempt() -> tuple[str, Device] | None:
            state = self._state(actor)
            existing = state.device(device_id)
            if existing is None:
                return None
            others = tuple(d for d in state.devices if d.device_id != device_id)
            audit = self.audit(actor, Role.PATIENTS, "device.deleted", f"DEVICE#{device_id}")
            self.store.save_reminder_state(replace(state, devices=others), audit)
            return state.patient_id, existing

        gone = retry_on_conflict(attempt)
        if gone is not None:
            patient_id, device = gone
            self._forget_endpoint(device.endpoint_arn, f"{patient_id}/{device_id}")

    def set_reminders(self, actor: Actor, enabled: bool) -> RemindersView:
        def attempt() -> RemindersView:
            state = self._state(actor)
            if state.enabled != enabled or state.version == 0:
                audit = self.audit(actor, Role.PATIENTS, "reminders.updated", "REMINDERS")
                self.store.save_reminder_state(replace(state, enabled=enabled), audit)
            return RemindersView(enabled=enabled)

        return retry_on_conflict(attempt)

    def _forget_endpoint(self, arn: str, user_data: str) -> None:
        """Delete the endpoint only while it is still this device's: SNS hands an endpoint to whoever registers
        its token next (another device of the patient, or another patient's phone), and that one keeps it."""
        try:
            if self.gateway.endpoint_owner(arn) != user_data:
                logger.info("reminders: an endpoint taken over by another registration was left to it")
                return
            self.gateway.delete_endpoint(arn)
        except PushError:
            logger.warning("reminders: an endpoint was not deleted (left to SNS)")


# ---- the hourly run ----------------------------------------------------------------------------------------------


def reminder_date(clinic: Clinic, instant: datetime, lease: SweepLease | None, run_id: str) -> date | None:
    """The clinic's local date if this run should remind its patients now, else None: its local hour is in
    [``reminder_hour``, ``LAST_HOUR``) and the date is not done, unless another live run holds it."""
    local = instant.astimezone(ZoneInfo(clinic.timezone))
    today = local.date()
    if not clinic.reminder_hour <= local.hour < max(LAST_HOUR, clinic.reminder_hour + 1):
        return None
    if lease is None or lease.date < today:
        return today
    if lease.date > today or lease.done:
        return None
    if lease.run_id == run_id or lease.until <= instant:
        return today
    return None


@dataclass(slots=True)
class RunSummary:
    """What one run did (counts only: no patient data in logs)."""

    clinics: list[dict[str, str]] = field(default_factory=list)
    queued: int = 0
    pushed: int = 0
    disabled: int = 0
    failed: int = 0
    expired: int = 0

    def add(self, other: RunSummary) -> None:
        self.queued += other.queued
        self.pushed += other.pushed
        self.disabled += other.disabled
        self.failed += other.failed
        self.expired += other.expired

    def as_json(self) -> dict[str, object]:
        return {
            "clinics": self.clinics,
            "queued": self.queued,
            "pushed": self.pushed,
            "disabled": self.disabled,
            "failed": self.failed,
            "expired": self.expired,
        }


class ReminderRun:
    """The hourly step (see the module's docstring)."""

    def __init__(
        self, repository: PatientRepository, store: ReminderStore, gateway: PushGateway, *, workers: int = WORKERS
    ) -> None:
        self.repository = repository
        self.store = store
        self.gateway = gateway
        self.workers = workers

    def run(self, instant: datetime, run_id: str) -> RunSummary:
        summary = RunSummary()
        leases = self.store.reminder_leases()
        for stored in self.repository.list_clinics():
            clinic = stored.clinic
            day = reminder_date(clinic, instant, leases.get(clinic.clinic_id), run_id)
            if day is None:
                continue
            if not self.store.claim_reminders(clinic.clinic_id, day, run_id, instant + LEASE, instant):
                continue
            try:
                clean = self.remind_clinic(stored, day, summary)
            except Exception:  # one clinic's failure never stops the others; the run reports it failed
                logger.exception("reminders: clinic run failed", extra={"clinic_id": clinic.clinic_id})
                summary.failed += 1
                continue
            if clean:
                self.store.complete_reminders(clinic.clinic_id, day, run_id)
            summary.clinics.append({"clinic_id": clinic.clinic_id, "date": day.isoformat()})
        return summary

    def remind_clinic(self, stored: StoredClinic, day: date, summary: RunSummary) -> bool:
        """Queue then deliver the clinic's pushes for ``day``; False when some patient's push must wait."""
        failed = summary.failed
        protocol = protocol_for(stored.clinic.label)
        clinic_id = stored.clinic.clinic_id

        def queue(patient_id: str) -> RunSummary:
            one = RunSummary()
            try:
                if retry_on_conflict(partial(self._queue, patient_id, clinic_id, day, protocol)):
                    one.queued += 1
            except Exception:  # one patient's failure never stops the others
                logger.exception("reminders: a patient's push was not queued", extra={"clinic_id": clinic_id})
                one.failed += 1
            return one

        def deliver(push: QueuedPush) -> RunSummary:
            one = RunSummary()
            self.deliver(push, one, day)
            return one

        # Patients are independent (each its own items and endpoints): a few at a time, as each step waits on I/O.
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="remind") as pool:
            for one in pool.map(queue, self.store.patients_to_remind(clinic_id)):
                summary.add(one)
            for one in pool.map(deliver, self.store.queued_pushes(clinic_id)):
                summary.add(one)
        return summary.failed == failed

    def _queue(self, patient_id: str, clinic_id: str, day: date, protocol: Protocol) -> bool:
        stored, state = self.store.reminder_record(patient_id, clinic_id)
        # One push per distinct endpoint, whatever records point at it (registrations stored before put_device
        # dropped a replaced device on the same endpoint).
        owed: dict[str, str] = {}
        for d in state.devices:
            if not d.disabled:
                owed.setdefault(d.endpoint_arn, d.device_id)
        endpoints = tuple((device_id, arn) for arn, device_id in owed.items())
        if stored is None or not state.enabled or not endpoints or state.last_push == day:
            return False  # nowhere to push, or this date's one push was queued already
        push = push_for(stored.record, day, state.marks, protocol, enabled=state.enabled)
        if push is None:
            return False
        queued = QueuedPush(clinic_id, day, patient_id, push.title, push.body, push.data, endpoints)
        self.store.queue_push(state, queued, push.keys)
        return True

    def deliver(self, push: QueuedPush, summary: RunSummary, today: date) -> None:
        """Publish to each endpoint still owed; a dead endpoint is marked and skipped, a refusal waits for the
        next run (the push stays queued for that endpoint only) until the push expires: past its date by more than
        ``PUSH_LIFETIME`` on the clinic's ``today``, or refused in ``MAX_PUSH_ATTEMPTS`` runs. An expired push is
        dropped undelivered and counted (``expired``), so it no longer fails every run."""
        if today > push.day + PUSH_LIFETIME:
            self._expire(push, summary)
            return
        refused = 0
        for device_id, arn in push.endpoints:
            try:
                # The endpoint may have been taken over since (another patient registered the token this phone
                # had): never push this patient's reminder to someone else's phone. One read per push.
                owner = self.gateway.endpoint_owner(arn)
                if owner is None or owner.partition("/")[0] != push.patient_id:
                    raise EndpointGone("taken over")
                self.gateway.publish(arn, push.title, push.body, push.data)
            except EndpointGone:
                self.store.disable_device(push.patient_id, device_id, arn)
                self.store.pushed(push, device_id)
                summary.disabled += 1
                continue
            except PushError:
                logger.warning("reminders: a push was not accepted", extra={"clinic_id": push.clinic_id})
                refused += 1
                continue
            # The one duplicate window: SNS has the push, the table does not know yet. Nothing runs in between.
            self.store.pushed(push, device_id)
            summary.pushed += 1
        if refused:
            if self.store.push_refused(push) >= MAX_PUSH_ATTEMPTS:
                self._expire(push, summary)
            else:
                summary.failed += refused

    def _expire(self, push: QueuedPush, summary: RunSummary) -> None:
        self.store.drop_push(push)
        summary.expired += 1
        logger.warning("reminders: a queued push expired undelivered", extra={"clinic_id": push.clinic_id})


__all__ = [
    "LAST_HOUR",
    "MAX_PUSH_ATTEMPTS",
    "PUSH_LIFETIME",
    "DeviceSaved",
    "DeviceView",
    "Devices",
    "ReminderRun",
    "RunSummary",
    "reminder_date",
    "token_hash",
]
