"""The storage ports: what the services need from persistence (patients, the sweep's outbox), independent of
DynamoDB, with the records and errors they exchange and the limits every implementation keeps.

Every patient-level write is one atomic step that (a) checks and bumps the profile's ``version`` (optimistic
locking: two devices cannot overwrite each other), (b) writes the new fact, (c) keeps the sparse due index right
(``next_check`` set, or removed when nothing can change any more) and (d) appends an audit entry. Either all of
it happens or none of it does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Clinic, Infusion, PatientProfile, PatientRecord, Result
from lemtrada.regimen.worklist import SEVERITIES, PatientWorklist
from lemtrada.storage import keys

MAX_TRANSACTION_ITEMS = 100
"""DynamoDB's limit on one TransactWriteItems call; both implementations refuse a write that would need more."""


def check_transaction_size(items: int) -> None:
    """Refuse a write DynamoDB would refuse, before anything is sent (the in-memory twin refuses it alike)."""
    if items > MAX_TRANSACTION_ITEMS:
        raise ValueError(f"one write may touch at most {MAX_TRANSACTION_ITEMS} items, this one needs {items}")


class StorageError(Exception):
    """Base of the errors a repository raises; services turn them into HTTP problems."""


class VersionConflict(StorageError):
    """Someone else changed the record since it was read (expected version did not match)."""


class AlreadyExists(StorageError):
    """The thing being created exists already (same infusion date, patient id, or a linked user sub)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what, when: no request bodies, no health data beyond the action and its target."""

    actor_sub: str
    actor_role: str
    at: datetime
    action: str  # e.g. "patient.enrolled", "infusion.recorded", "result.recorded", "profile.updated"
    target: str  # e.g. "INFUSION#2026-11-02", "RESULT#2026-11-02#<id>"


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A clinician's answer to a finding, a deviation or an overdue/missed occurrence (DESIGN 7).

    ``ref`` is the finding_id, ``<infusion date>:<deviation code>`` or ``<item>:<k>``; one per (kind, ref).
    """

    kind: str  # "finding", "deviation" or "occurrence"
    ref: str
    action: str
    by: str
    at: datetime


def with_acknowledgements(record: PatientRecord, acks: Sequence[Acknowledgement]) -> PatientRecord:
    """The record as the rules read it: findings named by a ``finding`` acknowledgement are ``acknowledged``."""
    refs = {ack.ref for ack in acks if ack.kind == "finding"}
    if not refs:
        return record
    results = tuple(
        replace(
            result,
            findings=tuple(replace(f, acknowledged=True) if f.finding_id in refs else f for f in result.findings),
        )
        if any(f.finding_id in refs for f in result.findings)
        else result
        for result in record.results
    )
    return replace(record, results=results)


@dataclass(frozen=True, slots=True)
class StoredClinic:
    clinic: Clinic
    version: int


@dataclass(frozen=True, slots=True)
class SweepLease:
    """The last local date a sweep run claimed for a clinic (DESIGN 8, hourly runs): which execution holds it,
    until when, and whether that run published the clinic's digests."""

    date: date
    run_id: str
    until: datetime
    done: bool


@dataclass(frozen=True, slots=True)
class StoredPatient:
    """A patient's record plus what storage keeps beside it."""

    record: PatientRecord
    version: int
    enrolled_at: datetime
    patient_sub: str | None = None
    external_ref: str | None = None
    next_check: date | None = None
    swept_through: date | None = None  # last local date the sweep processed this patient
    sent_notices: frozenset[str] = field(default_factory=frozenset)  # keys of notice marks, pending or sent
    acknowledgements: tuple[Acknowledgement, ...] = ()  # ordered by (kind, ref); findings' flags already set
    worklist: PatientWorklist | None = None  # the stored worklist projection (DESIGN 8), None before the first

    @property
    def patient_id(self) -> str:
        return self.record.profile.patient_id

    @property
    def clinic_id(self) -> str:
        return self.record.profile.clinic_id


@dataclass(frozen=True, slots=True)
class WorklistUpdate:
    """The worklist projection's share of a patient write: the new projection, and the one it replaces (the
    clinic's counters move by the difference). Written in the write's transaction, guarded by its version."""

    patient_id: str
    clinic_id: str
    after: PatientWorklist
    before: PatientWorklist | None

    def count_changes(self) -> dict[str, int]:
        """What the clinic's counters gain (or lose) by this write: items per severity and ``patients``."""
        after, before = self.after.counts(), self.before.counts() if self.before is not None else {}
        delta = {severity: after[severity] - before.get(severity, 0) for severity in SEVERITIES}
        listed_before = self.before is not None and bool(self.before.items)
        delta["patients"] = int(bool(self.after.items)) - int(listed_before)
        return {name: change for name, change in delta.items() if change}


@dataclass(frozen=True, slots=True)
class WorklistRow:
    """One patient of a worklist page, as the projection holds it."""

    patient_id: str
    external_ref: str | None
    worklist: PatientWorklist


@dataclass(frozen=True, slots=True)
class WorklistPage:
    rows: tuple[WorklistRow, ...]
    cursor: str | None  # opaque and bound to the clinic; None when there is no further page


COUNT_NAMES: tuple[str, ...] = (*SEVERITIES, "patients")
"""The clinic's worklist counters: items per severity and patients with at least one item."""


@dataclass(frozen=True, slots=True)
class PatientPage:
    patients: tuple[StoredPatient, ...]
    cursor: str | None  # opaque; pass back to get the next page, None when there is none


@dataclass(frozen=True, slots=True)
class NoticeMark:
    """One notice the sweep recorded for a patient: its key makes "at most once" a conditional write. Whether it
    went out is the outbox's to know (its key item turns ``sent``), not the mark's."""

    key: str
    on: date  # the clinic-local date of the sweep that recorded it
    clinic_id: str


ALERT_WRITER = "write"
"""The holder of an owed alert's claim while its writer delivers it (stored with the item; drains use random ones)."""


@dataclass(frozen=True, slots=True)
class OwedAlert:
    """An alert stored as owed, when its fact was stored, and who holds it until when (DESIGN 7: the writer holds
    it from the write on; a drain takes it only once that lease has run out)."""

    alert: Alert
    owed_at: datetime
    lease_until: datetime | None = None
    holder: str | None = None

    def held(self, now: datetime) -> bool:
        """Someone may be publishing it right now (their lease runs past ``now``)."""
        return self.lease_until is not None and self.lease_until > now


@dataclass(frozen=True, slots=True)
class DueEntry:
    """One row of the sparse due index: enough to decide whether to load the record."""

    patient_id: str
    clinic_id: str
    next_check: date


def sweep_audit(on: date) -> AuditEntry:
    """The entry a sweep write gets when the caller gives none."""
    return AuditEntry(
        actor_sub="system:sweep",
        actor_role="system",
        at=datetime.now(UTC),
        action="notices.recorded",
        target=f"{keys.NOTICE_PREFIX}{on.isoformat()}",
    )


@dataclass(frozen=True, slots=True)
class LabReceipt:
    """One observation a lab interface delivered, stored once per ``key`` (the lab's identifier, or the HL7 message
    control id and the OBX's place): a later delivery with the same key stores nothing new (DESIGN 10)."""

    key: str
    patient_id: str
    result_id: str
    date: date
    item: str
    analyte: str


# ---- the patient repository -------------------------------------------------------------------------------
class PatientRepository(Protocol):
    """Clinics, patients and their facts. Implementations: DynamoDB (storage.repository) and an in-memory twin
    for tests (tests/support/memory.py)."""

    # -- clinics -----------------------------------------------------------------------------------
    def get_clinic(self, clinic_id: str) -> StoredClinic | None: ...

    def list_clinics(self) -> tuple[StoredClinic, ...]:
        """Every clinic (the sweep needs each one's time zone), ordered by clinic id."""
        ...

    def clinic_audit_trail(self, clinic_id: str) -> tuple[AuditEntry, ...]: ...

    def save_clinic(self, clinic: Clinic, expected_version: int | None, audit: AuditEntry) -> int:
        """Create (expected_version None: must not exist) or update (version must match); returns new version."""
        ...

    def sweep_leases(self) -> dict[str, SweepLease]:
        """Every clinic's sweep lease (one Query: the hourly plan reads them all), by clinic id."""
        ...

    def claim_sweep(self, clinic_id: str, day: date, run_id: str, until: datetime, now: datetime) -> bool:
        """Take the clinic's ``day`` for ``run_id`` unless that date is done or another run holds it unexpired
        (an earlier date, or none, is always taken). True when this run now holds it."""
        ...

    def complete_sweep(self, clinic_id: str, day: date, run_id: str) -> bool:
        """Mark the clinic's ``day`` done if ``run_id`` still holds it; False if it does not (nothing changed)."""
        ...

    # -- patients: reads ---------------------------------------------------------------------------
    def get_patient(self, patient_id: str, *, consistent_read: bool = True) -> StoredPatient | None:
        """The whole record in one read (profile, infusions, results, notice marks; not the audit trail).

        ``consistent_read=False`` may return an older version of the record at half the read cost; only a
        caller whose write is conditioned on the version it read (the sweep worker) may use it.
        """
        ...

    def patient_id_for_user(self, sub: str) -> str | None: ...

    def list_clinic_patients(self, clinic_id: str, limit: int, cursor: str | None = None) -> PatientPage: ...

    def worklist_page(
        self, clinic_id: str, limit: int, cursor: str | None = None, *, at_least: int | None = None
    ) -> WorklistPage:
        """Up to ``limit`` patients of the clinic's worklist projection by rank (priority, oldest item, id), only
        those whose priority rank is at most ``at_least`` when given. ValueError for a cursor this clinic was not
        given (malformed or another clinic's)."""
        ...

    def worklist_counts(self, clinic_id: str) -> dict[str, int]:
        """The clinic's counters (``COUNT_NAMES``), kept with the projection; a small read whatever its size."""
        ...

    def audit_trail(self, patient_id: str) -> tuple[AuditEntry, ...]:
        """The patient's audit entries, oldest first (never part of get_patient's read)."""
        ...

    def notice_marks(self, patient_id: str) -> tuple[NoticeMark, ...]:
        """The patient's notice marks, ordered by key."""
        ...

    # -- patients: writes (each one atomic, version-checked, index-maintaining, audited) ------------
    def create_patient(
        self,
        patient: StoredPatient,
        audit: AuditEntry,
        *,
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> None:
        """Store a new patient (version 1) with its record (infusions, results, acknowledgements: an enrollment
        with history) and, if ``patient_sub`` is set, link that user to it; ``alerts`` (those the record's current
        critical findings and deviations owe) are stored as owed and ``worklist`` (every write takes it) is the
        projection, both in the same transaction.

        Raises AlreadyExists("patient") or AlreadyExists("patient_sub").
        """
        ...

    def update_profile(
        self,
        profile: PatientProfile,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        worklist: WorklistUpdate | None = None,
    ) -> int: ...

    def add_infusion(
        self,
        patient_id: str,
        infusion: Infusion,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> int:
        """Raises AlreadyExists("infusion") when an infusion on that date exists, VersionConflict when stale.

        ``alerts`` (those the infusion's deviations owe) are stored as owed in the same transaction."""
        ...

    def add_result(
        self,
        patient_id: str,
        result: Result,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        updated: Sequence[Result] = (),
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> int:
        """Store a new result and, in the same transaction, ``updated``: stored results rewritten whole (their
        findings grew because the new result completed a pair or changed their history), and ``alerts`` as owed
        (those the new findings owe): an alert is owed exactly when its finding is stored.

        Raises AlreadyExists("result") for a taken (date, id), VersionConflict when stale or when an updated
        result is not stored."""
        ...

    def acknowledge(
        self,
        patient_id: str,
        acknowledgement: Acknowledgement,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        worklist: WorklistUpdate | None = None,
    ) -> int:
        """Store an acknowledgement; AlreadyExists("acknowledgement") when its (kind, ref) has one."""
        ...

    # -- lab interfaces (DESIGN 10) ---------------------------------------------------------------
    def patients_by_external_ref(self, clinic_id: str, refs: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The ids of the clinic's patients whose ``external_ref`` is one of ``refs``, by ref (a ref no patient
        has is absent; a ref several patients share maps to all of them)."""
        ...

    def lab_receipts(self, clinic_id: str, receipt_keys: Sequence[str]) -> dict[str, LabReceipt]:
        """The clinic's stored receipts among ``receipt_keys``, by key (strongly consistent)."""
        ...

    def store_lab_result(
        self,
        patient_id: str,
        result: Result,
        *,
        new: bool,
        receipts: Sequence[LabReceipt],
        clinic_id: str,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        updated: Sequence[Result] = (),
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> int:
        """``add_result`` for a lab interface: ``result`` is new (``new``) or a stored one rewritten whole (its
        analytes grew), and each receipt is stored in the same transaction only if its key is new.

        Raises AlreadyExists("receipt") when a receipt's key is taken, AlreadyExists("result") for a taken new
        (date, id), VersionConflict when stale or when a rewritten result is not stored."""
        ...

    # -- alerts owed (DESIGN 7): written with their facts, removed once published ----------------------
    def owed_alerts(self, clinic_id: str, *, owed_before: datetime | None = None) -> tuple[OwedAlert, ...]:
        """The clinic's alerts not yet published (only those owed before ``owed_before`` when given), oldest first."""
        ...

    def claim_alert(self, alert: Alert, holder: str, now: datetime, until: datetime) -> bool:
        """Take an owed alert for ``holder`` until ``until``; False when it is no longer owed or another holder's
        lease runs past ``now`` (one conditional write: concurrent drains cannot both win)."""
        ...

    def release_alert(self, alert: Alert, holder: str) -> bool:
        """Give a claim back (SNS refused the alert) so the next drain takes it at once; False if not held."""
        ...

    def alert_sent(self, alert: Alert, holder: str | None = None) -> bool:
        """Forget an owed alert after SNS accepted it; False when it was not owed (sent by someone else) or, with
        ``holder``, when that holder no longer has it."""
        ...

    # -- the sweep's view -------------------------------------------------------------------------
    @property
    def due_shards(self) -> int:
        """How many shards the due index is spread over (``DUE_SHARDS``); shards are 0 .. due_shards - 1."""
        ...

    def due_patients(self, shard: int, through: date) -> Iterator[DueEntry]:
        """Rows of one shard of the due index with next_check <= through (reads the index only)."""
        ...

    def record_sweep(
        self,
        patient_id: str,
        on: date,
        notices: Sequence[str],
        expected_version: int,
        next_check: date | None,
        *,
        audit: AuditEntry | None = None,
        clinic_id: str | None = None,
        outbox: OutboxAppend | None = None,
        worklist: WorklistUpdate | None = None,
    ) -> int:
        """Atomically: a mark per notice key, ``swept_through = on``, next_check moved or removed, version + 1, the
        sweep's audit entry, and ``outbox`` (the same notices' digest items) appended to an outbox page.

        The outbox append and the marks commit together, so a notice queued is a notice marked: the marks are the
        dedupe (the engine is asked with them as sent) and a lost race writes neither. Raises
        AlreadyExists("notice") when a mark for one of the keys exists in the month's marks (nothing is written;
        marks of other months are covered by the version check, as every mark write bumps it) and VersionConflict
        when stale. Without ``audit`` a system entry ("notices.recorded") is kept. ``clinic_id`` (the patient's
        clinic, known from the due row) spares the DynamoDB implementation a read. At most 98 keys per call.
        """
        ...


# ---- the sweep's outbox -----------------------------------------------------------------------------------
class OutboxError(Exception):
    """The outbox could not be written after retries: the sweep must fail loudly, not skip the patient."""


@dataclass(frozen=True, slots=True)
class QueuedNotice:
    """A notice as the worker hands it to the outbox: its key and its digest item."""

    key: str
    item: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxPage:
    """One page of a clinic's outbox for one local date: filled by one worker run of one shard (``run`` is a token
    of that invocation, so no two runs share a page) up to about 1 KB, then the next ``number``."""

    clinic_id: str
    date: date
    shard: int
    run: str
    number: int


@dataclass(frozen=True, slots=True)
class OutboxAppend:
    """What a sweep write adds to the outbox: the patient's notices of this write, on one page."""

    page: OutboxPage
    notices: tuple[QueuedNotice, ...]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A pending notice of a clinic's digest for one local date, and where it sits (page, patient chunk)."""

    clinic_id: str
    date: date
    patient_id: str
    key: str
    item: Mapping[str, Any]
    page: str = ""
    chunk: str = ""


class Outbox(Protocol):
    """The notices sweep writes appended (``PatientRepository.record_sweep``), until each digest part went out.

    Queueing is the repository's (in the patient's own transaction); the outbox only lists and retires."""

    def pending(self, clinic_id: str) -> list[OutboxEntry]:
        """Every pending entry of a clinic (tonight's and a crashed run's leftovers), oldest date first."""
        ...

    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        """Retire entries SNS accepted (listed by ``pending`` before): a page left empty is deleted, a page with
        entries of a later part keeps those. Idempotent."""
        ...


# ---- patient reminders (DESIGN 9) ------------------------------------------------------------------------------

MAX_DEVICES = 5
"""Devices one patient may register (DESIGN 9)."""


@dataclass(frozen=True, slots=True)
class Device:
    """A registered phone: its SNS endpoint and a hash of its token (the token itself is never stored)."""

    device_id: str
    platform: str
    endpoint_arn: str
    token_hash: str
    registered_at: datetime
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ReminderState:
    """A patient's reminder settings, devices and reminder marks (``PATIENT#<id>`` / ``REMINDERS``).

    ``version`` 0: nothing stored yet (reminders enabled, no device)."""

    patient_id: str
    clinic_id: str
    version: int = 0
    enabled: bool = True
    devices: tuple[Device, ...] = ()
    marks: frozenset[str] = frozenset()
    last_push: date | None = None
    """The local date of the last push queued: one push per patient and date, whatever runs that day."""

    def device(self, device_id: str) -> Device | None:
        return next((d for d in self.devices if d.device_id == device_id), None)


@dataclass(frozen=True, slots=True)
class QueuedPush:
    """A push queued for a patient and local date, with the endpoints it still has to reach."""

    clinic_id: str
    day: date
    patient_id: str
    title: str
    body: str
    data: Mapping[str, Any]
    endpoints: tuple[tuple[str, str], ...]  # (device_id, endpoint ARN) not yet published to
    attempts: int = 0
    """Runs in which SNS refused it (not endpoint-gone): after ``MAX_PUSH_ATTEMPTS`` it is given up."""


class ReminderStore(Protocol):
    """Devices, reminder marks, the push outbox and the hourly run's leases (storage.reminders).

    Queueing a push and marking its keys is one version-checked transaction on the patient's ``REMINDERS`` item,
    so a key is marked exactly when its push is queued; the push leaves the outbox device by device once SNS
    accepted it (``pushed``)."""

    def reminder_state(self, patient_id: str, clinic_id: str) -> ReminderState:
        """The stored state, or the defaults (version 0)."""
        ...

    def save_reminder_state(self, state: ReminderState, audit: AuditEntry) -> int:
        """Store devices and ``enabled`` (not the marks) if the version is still ``state.version``; keeps the
        clinic's list of patients to remind (devices and enabled) in the same transaction. Returns the new
        version; ``VersionConflict`` otherwise."""
        ...

    def patients_to_remind(self, clinic_id: str) -> tuple[str, ...]:
        """Patients of the clinic with a device and reminders enabled."""
        ...

    def reminder_record(self, patient_id: str, clinic_id: str) -> tuple[StoredPatient | None, ReminderState]:
        """The patient's record and reminder state, in one read."""
        ...

    def queue_push(self, state: ReminderState, push: QueuedPush, keys: Sequence[str]) -> None:
        """Mark ``keys`` and queue ``push`` atomically if the state's version holds (``VersionConflict``)."""
        ...

    def queued_pushes(self, clinic_id: str) -> tuple[QueuedPush, ...]:
        """Every push of the clinic not yet through (a crashed run's included), oldest date first."""
        ...

    def pushed(self, push: QueuedPush, device_id: str) -> None:
        """SNS accepted the push for this device (or it cannot take it): forget that endpoint; idempotent."""
        ...

    def push_refused(self, push: QueuedPush) -> int:
        """One more run in which SNS refused the push; its attempts so far (0: the push is gone already)."""
        ...

    def drop_push(self, push: QueuedPush) -> None:
        """Give the push up (expired): it leaves the outbox undelivered; idempotent."""
        ...

    def disable_device(self, patient_id: str, device_id: str, endpoint_arn: str) -> None:
        """Mark the device disabled (SNS EndpointDisabled): skipped from now on, not retried. Only while it is
        still on ``endpoint_arn`` (version-checked): a phone that registered again since the push was queued has
        a new endpoint, and that registration stays enabled."""
        ...

    def reminder_leases(self) -> dict[str, SweepLease]:
        """The hourly reminder run's lease per clinic (last local date claimed)."""
        ...

    def claim_reminders(self, clinic_id: str, day: date, run_id: str, until: datetime, now: datetime) -> bool: ...

    def complete_reminders(self, clinic_id: str, day: date, run_id: str) -> bool: ...
