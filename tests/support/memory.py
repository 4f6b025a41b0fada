"""In-memory twins of the shipped adapters, for tests and benchmarks only (the layer does not ship them).

- InMemoryPatientRepository: same versions, conflicts, shards, cursors and audit as the DynamoDB repository.
  Every write checks all its conditions first and then applies everything under one lock, as one DynamoDB
  transaction would: either all of it happens or none of it does.
- InMemoryOutbox: the outbox pages the repository's ``record_sweep`` appends to (in the same lock, as DynamoDB
  writes them in the patient's transaction), listed and retired by the publish step.
- InMemoryDigestPublisher: keeps every digest instead of publishing it to SNS.
- InMemoryReminderStore: devices, reminder marks, the push outbox and leases (DESIGN 9), on the repository's
  lock and records.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from lemtrada.notify.publisher import Message, PublishError
from lemtrada.notify.push import EndpointGone, PlatformNotConfigured, PushError
from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Clinic, Infusion, PatientProfile, PatientRecord, Result
from lemtrada.regimen.worklist import PatientWorklist, rank_key
from lemtrada.storage import alert_items, keys
from lemtrada.storage.ports import (
    COUNT_NAMES,
    Acknowledgement,
    AlreadyExists,
    AuditEntry,
    DueEntry,
    LabReceipt,
    NoticeMark,
    OutboxAppend,
    OutboxEntry,
    OwedAlert,
    PatientPage,
    QueuedNotice,
    QueuedPush,
    ReminderState,
    StoredClinic,
    StoredPatient,
    SweepLease,
    VersionConflict,
    WorklistPage,
    WorklistRow,
    WorklistUpdate,
    check_transaction_size,
    sweep_audit,
    with_acknowledgements,
)


@dataclass(slots=True)
class _PatientState:
    profile: PatientProfile
    version: int
    enrolled_at: datetime
    patient_sub: str | None
    external_ref: str | None
    next_check: date | None
    swept_through: date | None
    infusions: dict[date, Infusion] = field(default_factory=dict)
    results: dict[tuple[date, str], Result] = field(default_factory=dict)
    notices: dict[str, NoticeMark] = field(default_factory=dict)
    acknowledgements: dict[tuple[str, str], Acknowledgement] = field(default_factory=dict)
    audit: list[tuple[str, AuditEntry]] = field(default_factory=list)
    worklist: PatientWorklist | None = None


def claim_lease(
    leases: dict[str, SweepLease], clinic_id: str, day: date, run_id: str, *, until: datetime, now: datetime
) -> bool:
    """The condition of storage/leases.py on a dictionary: free, an earlier date, or this date undone and the
    caller's own or expired."""
    held = leases.get(clinic_id)
    free = (
        held is None
        or held.date < day
        or (held.date == day and not held.done and (held.run_id == run_id or held.until <= now))
    )
    if free:
        leases[clinic_id] = SweepLease(day, run_id, until, done=False)
    return free


def complete_lease(leases: dict[str, SweepLease], clinic_id: str, day: date, run_id: str) -> bool:
    held = leases.get(clinic_id)
    if held is None or held.date != day or held.run_id != run_id:
        return False
    leases[clinic_id] = replace(held, done=True)
    return True


class InMemoryPatientRepository:
    """PatientRepository kept in dictionaries; thread-safe."""

    def __init__(self, due_shards: int | None = None) -> None:
        self._shards = due_shards if due_shards is not None else keys.due_shards_from_env()
        self._lock = threading.RLock()
        self._clinics: dict[str, StoredClinic] = {}
        self._clinic_audit: dict[str, list[tuple[str, AuditEntry]]] = {}
        self._patients: dict[str, _PatientState] = {}
        self._links: dict[str, str] = {}
        self._alerts: dict[tuple[str, str, str], OwedAlert] = {}  # (clinic, patient, ref)
        # (clinic, page sort key) -> chunk name -> notices: written by record_sweep, read by InMemoryOutbox
        self.outbox_pages: dict[tuple[str, str], dict[str, list[QueuedNotice]]] = {}
        self.lock = self._lock
        self._leases: dict[str, SweepLease] = {}
        self._counters: dict[tuple[str, int], dict[str, int]] = {}  # (clinic, shard) -> counts
        self.worklist_writes = 0  # projection writes, for tests of "written only when it changed"
        self._receipts: dict[tuple[str, str], LabReceipt] = {}  # (clinic, key): lab interface deliveries

    @property
    def due_shards(self) -> int:
        return self._shards

    # -- clinics -----------------------------------------------------------------------------------
    def get_clinic(self, clinic_id: str) -> StoredClinic | None:
        with self._lock:
            return self._clinics.get(clinic_id)

    def list_clinics(self) -> tuple[StoredClinic, ...]:
        with self._lock:
            return tuple(self._clinics[cid] for cid in sorted(self._clinics))

    def save_clinic(self, clinic: Clinic, expected_version: int | None, audit: AuditEntry) -> int:
        with self._lock:
            current = self._clinics.get(clinic.clinic_id)
            if expected_version is None:
                if current is not None:
                    raise AlreadyExists("clinic")
                version = 1
            else:
                if current is None or current.version != expected_version:
                    raise VersionConflict(f"clinic {clinic.clinic_id}")
                version = expected_version + 1
            self._clinics[clinic.clinic_id] = StoredClinic(clinic=clinic, version=version)
            self._clinic_audit.setdefault(clinic.clinic_id, []).append((keys.audit_sk(audit.at), audit))
            return version

    def sweep_leases(self) -> dict[str, SweepLease]:
        with self._lock:
            return dict(self._leases)

    def claim_sweep(self, clinic_id: str, day: date, run_id: str, until: datetime, now: datetime) -> bool:
        with self._lock:
            return claim_lease(self._leases, clinic_id, day, run_id, until=until, now=now)

    def complete_sweep(self, clinic_id: str, day: date, run_id: str) -> bool:
        with self._lock:
            return complete_lease(self._leases, clinic_id, day, run_id)

    def clinic_audit_trail(self, clinic_id: str) -> tuple[AuditEntry, ...]:
        with self._lock:
            return tuple(entry for _, entry in sorted(self._clinic_audit.get(clinic_id, []), key=lambda e: e[0]))

    # -- patients: reads ---------------------------------------------------------------------------
    def get_patient(self, patient_id: str, *, consistent_read: bool = True) -> StoredPatient | None:
        """Always the latest version (a stale read is a DynamoDB behaviour; tests inject it around this)."""
        with self._lock:
            state = self._patients.get(patient_id)
            return None if state is None else self._stored(state)

    def patient_id_for_user(self, sub: str) -> str | None:
        with self._lock:
            return self._links.get(sub)

    def list_clinic_patients(self, clinic_id: str, limit: int, cursor: str | None = None) -> PatientPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        after = keys.decode_cursor(clinic_id, cursor) if cursor is not None else None
        with self._lock:
            ids = sorted(
                pid
                for pid, state in self._patients.items()
                if state.profile.clinic_id == clinic_id and (after is None or pid > after)
            )
            page = ids[:limit]
            patients = tuple(self._stored(self._patients[pid]) for pid in page)
        next_cursor = keys.encode_cursor(clinic_id, page[-1]) if len(ids) > limit else None
        return PatientPage(patients=patients, cursor=next_cursor)

    def worklist_page(
        self, clinic_id: str, limit: int, cursor: str | None = None, *, at_least: int | None = None
    ) -> WorklistPage:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        after = keys.decode_worklist_cursor(clinic_id, cursor)[0] if cursor is not None else None
        with self._lock:
            ranked = sorted(
                (rank, pid, state)
                for pid, state in self._patients.items()
                if state.profile.clinic_id == clinic_id
                and state.worklist is not None
                and (rank := rank_key(state.worklist, pid)) is not None
                and (after is None or rank > after)
                and (at_least is None or rank < str(at_least + 1))
            )
            rows = tuple(WorklistRow(pid, state.external_ref, state.worklist) for _, pid, state in ranked[:limit])  # type: ignore[arg-type]
        more = len(ranked) > limit
        return WorklistPage(
            rows=rows, cursor=keys.encode_worklist_cursor(clinic_id, ranked[limit - 1][0]) if more else None
        )

    def worklist_counts(self, clinic_id: str) -> dict[str, int]:
        totals = dict.fromkeys(COUNT_NAMES, 0)
        with self._lock:
            for (clinic, _), counts in self._counters.items():
                if clinic == clinic_id:
                    for name, value in counts.items():
                        totals[name] += value
        return totals

    def _project(self, state: _PatientState, update: WorklistUpdate | None) -> None:
        """The projection's share of a write (applied with it, under the lock), counters moved by the difference."""
        if update is None:
            return
        self.worklist_writes += 1
        state.worklist = update.after
        shard = keys.due_shard_number(update.patient_id, self._shards)
        counts = self._counters.setdefault((update.clinic_id, shard), {})
        for name, change in update.count_changes().items():
            counts[name] = counts.get(name, 0) + change

    def audit_trail(self, patient_id: str) -> tuple[AuditEntry, ...]:
        with self._lock:
            state = self._patients.get(patient_id)
            if state is None:
                return ()
            return tuple(entry for _, entry in sorted(state.audit, key=lambda e: e[0]))

    def notice_marks(self, patient_id: str) -> tuple[NoticeMark, ...]:
        with self._lock:
            state = self._patients.get(patient_id)
            if state is None:
                return ()
            return tuple(state.notices[key] for key in sorted(state.notices))

    # -- patients: writes --------------------------------------------------------------------------
    def create_patient(
        self,
        patient: StoredPatient,
        audit: AuditEntry,
        *,
        alerts: Sequence[Alert] = (),
        worklist: WorklistUpdate | None = None,
    ) -> None:
        record = patient.record
        # The items DynamoDB writes: profile, audit, each infusion, one per year of results, the notice marks, the
        # acknowledgements, the user link and each alert owed.
        years = len({result.date.year for result in record.results})
        facts = len(record.infusions) + years + bool(patient.sent_notices) + (patient.patient_sub is not None)
        check_transaction_size(2 + facts + bool(patient.acknowledgements) + len(alerts))
        with self._lock:
            if record.profile.patient_id in self._patients:
                raise AlreadyExists("patient")
            if patient.patient_sub is not None and patient.patient_sub in self._links:
                raise AlreadyExists("patient_sub")
            state = _PatientState(
                profile=record.profile,
                version=1,
                enrolled_at=patient.enrolled_at,
                patient_sub=patient.patient_sub,
                external_ref=patient.external_ref,
                next_check=patient.next_check,
                swept_through=patient.swept_through,
                infusions={infusion.date: infusion for infusion in record.infusions},
                results={(result.date, result.result_id): _as_stored(result) for result in record.results},
                acknowledgements={(a.kind, a.ref): a for a in patient.acknowledgements},
            )
            state.audit.append((keys.audit_sk(audit.at), audit))
            self._owe(alerts, audit.at)
            self._patients[record.profile.patient_id] = state
            self._project(state, worklist)
            if patient.patient_sub is not None:
                self._links[patient.patient_sub] = record.profile.patient_id

    def update_profile(
        self,
        profile: PatientProfile,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
        *,
        worklist: WorklistUpdate | None = None,
    ) -> int:
        with self._lock:
            state = self._checked(profile.patient_id, expected_version)
            state.profile = profile
            self._project(state, worklist)
            return self._bump(state, next_check, audit)

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
        with self._lock:
            state = self._patients.get(patient_id)
            if state is not None and infusion.date in state.infusions:
                raise AlreadyExists("infusion")
            state = self._checked(patient_id, expected_version)
            check_transaction_size(3 + len(alerts))
            state.infusions[infusion.date] = infusion
            self._owe(alerts, audit.at)
            self._project(state, worklist)
            return self._bump(state, next_check, audit)

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
        with self._lock:
            state = self._patients.get(patient_id)
            if state is not None and (result.date, result.result_id) in state.results:
                raise AlreadyExists("result")
            state = self._checked(patient_id, expected_version)
            others = [r for r in updated if r.result_id != result.result_id]
            if any((r.date, r.result_id) not in state.results for r in others):
                raise VersionConflict(f"patient {patient_id}: a rewritten result is not stored")
            check_transaction_size(2 + len({r.date.year for r in (result, *others)}) + len(alerts))
            state.results[(result.date, result.result_id)] = _as_stored(result)
            for other in others:
                state.results[(other.date, other.result_id)] = _as_stored(other)
            self._owe(alerts, audit.at)
            self._project(state, worklist)
            return self._bump(state, next_check, audit)

    # -- lab interfaces (DESIGN 10) ---------------------------------------------------------------
    def patients_by_external_ref(self, clinic_id: str, refs: Sequence[str]) -> dict[str, tuple[str, ...]]:
        wanted = set(refs)
        found: dict[str, list[str]] = {}
        with self._lock:
            for pid, state in self._patients.items():
                if state.profile.clinic_id == clinic_id and state.external_ref in wanted:
                    found.setdefault(state.external_ref, []).append(pid)
        return {ref: tuple(sorted(ids)) for ref, ids in found.items()}

    def lab_receipts(self, clinic_id: str, receipt_keys: Sequence[str]) -> dict[str, LabReceipt]:
        with self._lock:
            return {key: self._receipts[(clinic_id, key)] for key in receipt_keys if (clinic_id, key) in self._receipts}

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
        with self._lock:
            if any((clinic_id, receipt.key) in self._receipts for receipt in receipts):
                raise AlreadyExists("receipt")
            state = self._patients.get(patient_id)
            if new and state is not None and (result.date, result.result_id) in state.results:
                raise AlreadyExists("result")
            state = self._checked(patient_id, expected_version)
            others = [r for r in updated if r.result_id != result.result_id]
            rewritten = others if new else [result, *others]
            if any((r.date, r.result_id) not in state.results for r in rewritten):
                raise VersionConflict(f"patient {patient_id}: a rewritten result is not stored")
            years = len({r.date.year for r in (result, *others)})
            check_transaction_size(2 + years + len(receipts) + len(alerts))
            for stored in (result, *others):
                state.results[(stored.date, stored.result_id)] = _as_stored(stored)
            for receipt in receipts:
                self._receipts[(clinic_id, receipt.key)] = receipt
            self._owe(alerts, audit.at)
            self._project(state, worklist)
            return self._bump(state, next_check, audit)

    def _owe(self, alerts: Sequence[Alert], at: datetime) -> None:
        for alert in alerts:
            lease = at + alert_items.WRITER_LEASE  # the writer's claim, stored with the item as DynamoDB does
            key = (alert.clinic_id, alert.patient_id, alert.ref)
            self._alerts[key] = OwedAlert(alert, at, lease_until=lease, holder=alert_items.WRITER)

    def owed_alerts(self, clinic_id: str, *, owed_before: datetime | None = None) -> tuple[OwedAlert, ...]:
        with self._lock:
            owed = [
                o
                for (clinic, _, _), o in self._alerts.items()
                if clinic == clinic_id and (owed_before is None or o.owed_at < owed_before)
            ]
        return tuple(sorted(owed, key=lambda o: (o.owed_at, o.alert.patient_id, o.alert.ref)))

    def claim_alert(self, alert: Alert, holder: str, now: datetime, until: datetime) -> bool:
        key = (alert.clinic_id, alert.patient_id, alert.ref)
        with self._lock:
            owed = self._alerts.get(key)
            if owed is None or (owed.lease_until is not None and owed.lease_until > now):
                return False
            self._alerts[key] = replace(owed, lease_until=until, holder=holder)
            return True

    def release_alert(self, alert: Alert, holder: str) -> bool:
        key = (alert.clinic_id, alert.patient_id, alert.ref)
        with self._lock:
            owed = self._alerts.get(key)
            if owed is None or owed.holder != holder:
                return False
            self._alerts[key] = replace(owed, lease_until=None, holder=None)
            return True

    def alert_sent(self, alert: Alert, holder: str | None = None) -> bool:
        key = (alert.clinic_id, alert.patient_id, alert.ref)
        with self._lock:
            owed = self._alerts.get(key)
            if owed is None or (holder is not None and owed.holder != holder):
                return False
            del self._alerts[key]
            return True

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
        with self._lock:
            state = self._patients.get(patient_id)
            ref = (acknowledgement.kind, acknowledgement.ref)
            if state is not None and ref in state.acknowledgements:
                raise AlreadyExists("acknowledgement")
            state = self._checked(patient_id, expected_version)
            state.acknowledgements[ref] = acknowledgement
            self._project(state, worklist)
            return self._bump(state, next_check, audit)

    # -- the sweep's view -------------------------------------------------------------------------
    def due_patients(self, shard: int, through: date) -> Iterator[DueEntry]:
        if not 0 <= shard < self._shards:
            raise ValueError(f"shard must be between 0 and {self._shards - 1}")
        with self._lock:
            rows = sorted(
                (state.next_check, pid, state.profile.clinic_id)
                for pid, state in self._patients.items()
                if state.next_check is not None
                and state.next_check <= through
                and keys.due_shard_number(pid, self._shards) == shard
            )
        for next_check, pid, clinic_id in rows:
            yield DueEntry(patient_id=pid, clinic_id=clinic_id, next_check=next_check)

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
        unique = sorted(set(notices))
        check_transaction_size(2 + len(unique))
        if outbox is not None and sorted({n.key for n in outbox.notices}) != unique:
            raise ValueError("the outbox chunk and the marks must hold the same notice keys")
        with self._lock:
            state = self._patients.get(patient_id)
            if state is not None and any(key in state.notices for key in unique):
                raise AlreadyExists("notice")
            state = self._checked(patient_id, expected_version)
            for key in unique:
                state.notices[key] = NoticeMark(key=key, on=on, clinic_id=clinic_id or state.profile.clinic_id)
            state.swept_through = on
            if outbox is not None and outbox.notices:
                page = outbox.page
                sk = keys.outbox_page_sk(page.date, page.shard, page.run, page.number)
                chunk = keys.outbox_chunk_name(patient_id, expected_version)
                stored = [QueuedNotice(n.key, dict(n.item)) for n in outbox.notices]
                self.outbox_pages.setdefault((page.clinic_id, sk), {})[chunk] = stored
            self._project(state, worklist)
            return self._bump(state, next_check, audit if audit is not None else sweep_audit(on))

    def _checked(self, patient_id: str, expected_version: int) -> _PatientState:
        state = self._patients.get(patient_id)
        if state is None or state.version != expected_version:
            raise VersionConflict(f"patient {patient_id}")
        return state

    @staticmethod
    def _bump(state: _PatientState, next_check: date | None, audit: AuditEntry) -> int:
        state.version += 1
        state.next_check = next_check
        state.audit.append((keys.audit_sk(audit.at), audit))
        return state.version

    @staticmethod
    def _stored(state: _PatientState) -> StoredPatient:
        acks = tuple(state.acknowledgements[ref] for ref in sorted(state.acknowledgements))
        record = PatientRecord(
            profile=state.profile,
            infusions=tuple(state.infusions[day] for day in sorted(state.infusions)),
            results=tuple(state.results[k] for k in sorted(state.results)),
        )
        record = with_acknowledgements(record, acks)
        return StoredPatient(
            record=record,
            version=state.version,
            enrolled_at=state.enrolled_at,
            patient_sub=state.patient_sub,
            external_ref=state.external_ref,
            next_check=state.next_check,
            swept_through=state.swept_through,
            sent_notices=frozenset(state.notices),
            acknowledgements=acks,
            worklist=state.worklist,
        )


def _as_stored(result: Result) -> Result:
    """A result as DynamoDB keeps it: acknowledgements live apart, so no finding is stored acknowledged."""
    findings = tuple(replace(f, acknowledged=False) for f in result.findings)
    return replace(result, findings=findings)


class InMemoryOutbox:
    """Same rules as the DynamoDB outbox, on the pages of ``repository`` (or of its own, for tests that only
    publish): ``enqueue`` puts notices on a page directly, as a sweep write would have."""

    def __init__(self, repository: InMemoryPatientRepository | None = None) -> None:
        self._repository = repository if repository is not None else InMemoryPatientRepository(due_shards=1)
        self.sent_keys: set[tuple[str, str, str]] = set()  # (clinic, patient, key) retired after SNS took them
        self._seeded = 0

    @property
    def pages(self) -> dict[tuple[str, str], dict[str, list[QueuedNotice]]]:
        return self._repository.outbox_pages

    def enqueue(self, clinic_id: str, day: date, patient_id: str, notices: Sequence[QueuedNotice]) -> list[str]:
        """Test seeding: the notices on a page of their own (no marks: the sweep's dedupe is the repository's)."""
        with self._repository.lock:
            self._seeded += 1
            sk = keys.outbox_page_sk(day, 0, "seed", self._seeded)
            chunk = keys.outbox_chunk_name(patient_id, self._seeded)
            self.pages[(clinic_id, sk)] = {chunk: [QueuedNotice(n.key, dict(n.item)) for n in notices]}
        return [n.key for n in notices]

    def pending(self, clinic_id: str) -> list[OutboxEntry]:
        with self._repository.lock:
            found = [
                OutboxEntry(
                    clinic_id,
                    keys.outbox_page_date(sk),
                    keys.outbox_chunk_patient(chunk),
                    notice.key,
                    dict(notice.item),
                    page=sk,
                    chunk=chunk,
                )
                for (clinic, sk), chunks in self.pages.items()
                if clinic == clinic_id
                for chunk, notices in chunks.items()
                for notice in notices
            ]
        return sorted(found, key=lambda entry: (entry.date, entry.patient_id, entry.key, entry.page))

    def pending_keys(self) -> set[tuple[str, str, str]]:
        """(clinic, patient, key) of every notice still on a page."""
        with self._repository.lock:
            return {
                (clinic, keys.outbox_chunk_patient(chunk), notice.key)
                for (clinic, _), chunks in self.pages.items()
                for chunk, notices in chunks.items()
                for notice in notices
            }

    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        with self._repository.lock:
            for entry in entries:
                chunks = self.pages.get((entry.clinic_id, entry.page))
                if chunks is not None and entry.chunk in chunks:
                    chunks[entry.chunk] = [n for n in chunks[entry.chunk] if n.key != entry.key]
                    if not chunks[entry.chunk]:
                        del chunks[entry.chunk]
                    if not chunks:
                        del self.pages[(entry.clinic_id, entry.page)]
                self.sent_keys.add((entry.clinic_id, entry.patient_id, entry.key))


@dataclass
class PublishedDigest:
    """What the in-memory publisher keeps of a message, shaped like the local stack's `GET /_local/notices`."""

    message_id: str
    subject: str
    attributes: dict[str, str]
    digest: dict[str, Any]
    email: str = ""


@dataclass
class InMemoryDigestPublisher:
    """Keeps every message; `fail_next` makes the next n publishes raise (to test error paths)."""

    sent: list[PublishedDigest] = field(default_factory=list)
    fail_next: int = 0

    def publish(self, message: Message) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise PublishError("injected publish failure")
        body = json.loads(message.body())
        message_id = f"msg-{len(self.sent) + 1}"
        self.sent.append(
            PublishedDigest(
                message_id=message_id,
                subject=message.subject,
                attributes={name: value["StringValue"] for name, value in message.attributes().items()},
                digest=json.loads(body["default"]),
                email=str(body.get("email", "")),
            )
        )
        return message_id


class InMemoryReminderStore:
    """ReminderStore beside an InMemoryPatientRepository (its lock, its records); same versions and leases."""

    def __init__(self, repository: InMemoryPatientRepository) -> None:
        self.repository = repository
        self._lock = repository.lock
        self._states: dict[str, ReminderState] = {}
        self._remind: dict[str, set[str]] = {}  # clinic -> patients with a device and reminders enabled
        self._queued: dict[tuple[str, date, str], QueuedPush] = {}
        self._leases: dict[str, SweepLease] = {}
        self.audit: list[tuple[str, AuditEntry]] = []
        self.writes = 0

    def reminder_state(self, patient_id: str, clinic_id: str) -> ReminderState:
        with self._lock:
            return self._states.get(patient_id) or ReminderState(patient_id, clinic_id)

    def save_reminder_state(self, state: ReminderState, audit: AuditEntry) -> int:
        with self._lock:
            current = self.reminder_state(state.patient_id, state.clinic_id)
            if current.version != state.version:
                raise VersionConflict(f"reminders {state.patient_id}")
            version = state.version + 1
            self._states[state.patient_id] = replace(
                state, version=version, marks=current.marks, last_push=current.last_push
            )
            members = self._remind.setdefault(state.clinic_id, set())
            if state.enabled and state.devices:
                members.add(state.patient_id)
            else:
                members.discard(state.patient_id)
            self.audit.append((state.patient_id, audit))
            self.writes += 1
            return version

    def patients_to_remind(self, clinic_id: str) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._remind.get(clinic_id, ())))

    def reminder_record(self, patient_id: str, clinic_id: str) -> tuple[StoredPatient | None, ReminderState]:
        with self._lock:
            return self.repository.get_patient(patient_id), self.reminder_state(patient_id, clinic_id)

    def queue_push(self, state: ReminderState, push: QueuedPush, keys: Sequence[str]) -> None:
        with self._lock:
            current = self.reminder_state(state.patient_id, state.clinic_id)
            if current.version != state.version:
                raise VersionConflict(f"reminders {state.patient_id}")
            self._states[state.patient_id] = replace(
                current, version=current.version + 1, marks=current.marks | frozenset(keys), last_push=push.day
            )
            self._queued[(push.clinic_id, push.day, push.patient_id)] = push
            self.writes += 1

    def queued_pushes(self, clinic_id: str) -> tuple[QueuedPush, ...]:
        with self._lock:
            return tuple(self._queued[key] for key in sorted(k for k in self._queued if k[0] == clinic_id))

    def pushed(self, push: QueuedPush, device_id: str) -> None:
        with self._lock:
            key = (push.clinic_id, push.day, push.patient_id)
            held = self._queued.get(key)
            if held is None:
                return
            left = tuple(e for e in held.endpoints if e[0] != device_id)
            if left:
                self._queued[key] = replace(held, endpoints=left)
            else:
                del self._queued[key]
            self.writes += 1

    def push_refused(self, push: QueuedPush) -> int:
        with self._lock:
            key = (push.clinic_id, push.day, push.patient_id)
            held = self._queued.get(key)
            if held is None:
                return 0
            self._queued[key] = replace(held, attempts=held.attempts + 1)
            self.writes += 1
            return held.attempts + 1

    def drop_push(self, push: QueuedPush) -> None:
        with self._lock:
            self._queued.pop((push.clinic_id, push.day, push.patient_id), None)
            self.writes += 1

    def disable_device(self, patient_id: str, device_id: str, endpoint_arn: str) -> None:
        with self._lock:
            state = self._states.get(patient_id)
            current = None if state is None else state.device(device_id)
            if state is None or current is None or current.endpoint_arn != endpoint_arn:
                return
            devices = tuple(replace(d, disabled=True) if d.device_id == device_id else d for d in state.devices)
            self._states[patient_id] = replace(state, devices=devices, version=state.version + 1)
            self.writes += 1

    def reminder_leases(self) -> dict[str, SweepLease]:
        with self._lock:
            return dict(self._leases)

    def claim_reminders(self, clinic_id: str, day: date, run_id: str, until: datetime, now: datetime) -> bool:
        with self._lock:
            return claim_lease(self._leases, clinic_id, day, run_id, until=until, now=now)

    def complete_reminders(self, clinic_id: str, day: date, run_id: str) -> bool:
        with self._lock:
            return complete_lease(self._leases, clinic_id, day, run_id)


@dataclass
class SentPush:
    """One push the in-memory gateway was asked to publish (the local stack's `GET /_local/push` shape)."""

    endpoint_arn: str
    title: str
    body: str
    data: dict[str, Any]


@dataclass
class InMemoryPushGateway:
    """PushGateway kept in memory: endpoints by token, every publish; ``gone`` endpoints answer EndpointDisabled,
    ``throttle_next`` publishes fail as a throttled SNS would after its retries, ``fail`` endpoints refuse."""

    platforms: dict[str, str] = field(default_factory=lambda: {"apns": "arn:apns", "fcm": "arn:fcm"})
    endpoints: dict[str, tuple[str, str]] = field(default_factory=dict)  # arn -> (platform, device id)
    sent: list[SentPush] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)  # arn -> CustomUserData (rewritten on take-over, as SNS)
    lookups: int = 0

    def create_endpoint(self, platform: str, token: str, user_data: str, *, enable: bool = False) -> str:
        if not self.platforms.get(platform):
            raise PlatformNotConfigured(platform)
        arn = (
            f"arn:aws:sns:eu-west-1:000000000000:endpoint/{platform}/{hashlib.sha256(token.encode()).hexdigest()[:16]}"
        )
        self.endpoints[arn] = (platform, user_data.rpartition("/")[2])
        self.owners[arn] = user_data
        if enable:
            self.gone.discard(arn)
        return arn

    def delete_endpoint(self, endpoint_arn: str) -> None:
        self.endpoints.pop(endpoint_arn, None)
        self.owners.pop(endpoint_arn, None)
        self.deleted.append(endpoint_arn)

    def endpoint_owner(self, endpoint_arn: str) -> str | None:
        self.lookups += 1
        return self.owners.get(endpoint_arn)

    def publish(self, endpoint_arn: str, title: str, body: str, data: Any) -> str:
        if endpoint_arn in self.gone or endpoint_arn not in self.endpoints:
            raise EndpointGone("EndpointDisabled")
        if endpoint_arn in self.fail:
            raise PushError("injected push failure")
        self.sent.append(SentPush(endpoint_arn, title, body, json.loads(json.dumps(dict(data)))))
        return f"push-{len(self.sent)}"
