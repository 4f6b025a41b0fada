"""What every use case shares: who may see which patient, the clinic's "today", audit entries, retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from lemtrada.regimen.records import PatientRecord
from lemtrada.services.actor import Actor, Clock, Role
from lemtrada.services.errors import Conflict, NotFound
from lemtrada.storage.ports import AuditEntry, PatientRepository, StoredClinic, StoredPatient, VersionConflict

WRITE_ATTEMPTS = 4
"""Appends re-read and retry this often when another device wrote in between (no lost update, no 409 noise)."""


@dataclass(frozen=True, slots=True)
class PatientContext:
    """A patient the caller may act on, its clinic, and the clinic's local date."""

    stored: StoredPatient
    clinic: StoredClinic
    today: date
    role: Role

    @property
    def record(self) -> PatientRecord:
        return self.stored.record


def local_today(clinic: StoredClinic, now: datetime) -> date:
    """The clinic's calendar date at ``now``: every rule speaks in the clinic's local dates."""
    return now.astimezone(ZoneInfo(clinic.clinic.timezone)).date()


class UseCase:
    """Base of the use cases: the storage port and the clock; the actor comes with each call."""

    def __init__(self, repository: PatientRepository, clock: Clock) -> None:
        self.repository = repository
        self.clock = clock

    def clinic(self, clinic_id: str) -> StoredClinic:
        stored = self.repository.get_clinic(clinic_id)
        if stored is None:
            raise NotFound(f"clinic {clinic_id} not found")
        return stored

    def patient(self, actor: Actor, patient_id: str, *, write: bool = False) -> PatientContext:
        """The patient, if the caller may see it (or, with ``write``, change it); otherwise 404, never 403.

        Clinicians reach their own clinic's patients; a patient reaches only the record its ``sub`` is linked to,
        and only to read.
        """
        stored = self.repository.get_patient(patient_id)
        role = self._role_for(actor, stored, write=write) if stored is not None else None
        if stored is None or role is None:
            raise NotFound(f"patient {patient_id} not found")
        clinic = self.clinic(stored.clinic_id)
        return PatientContext(stored, clinic, local_today(clinic, self.clock()), role)

    def _role_for(self, actor: Actor, stored: StoredPatient, *, write: bool) -> Role | None:
        if actor.clinician_of(stored.clinic_id):
            return Role.CLINICIANS
        if not write and actor.is_patient and stored.patient_sub is not None and stored.patient_sub == actor.sub:
            linked = self.repository.patient_id_for_user(actor.sub)
            return Role.PATIENTS if linked == stored.patient_id else None
        return None

    def audit(self, actor: Actor, role: Role, action: str, target: str) -> AuditEntry:
        return AuditEntry(actor_sub=actor.sub, actor_role=role.value, at=self.clock(), action=action, target=target)


def retry_on_conflict[T](attempt: Callable[[], T], attempts: int = WRITE_ATTEMPTS) -> T:
    """Run a read-decide-write step again from a fresh read when the version moved underneath it."""
    for _ in range(attempts - 1):
        try:
            return attempt()
        except VersionConflict:
            continue
    try:
        return attempt()
    except VersionConflict as error:
        raise Conflict(
            "the record kept changing while this write was applied; retry", code="version_conflict"
        ) from error
