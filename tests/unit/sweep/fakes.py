"""A tiny stand-in for the regimen engine: notices owed inside fixed windows, so the sweep plumbing is tested alone.

A notice is owed on every date of its window while it has not been sent; a window that passes with no sweep is
skipped (states, not events, drive notices), exactly like the real engine's escalations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lemtrada.regimen.records import (
    Clinic,
    Diagnosis,
    Enrollment,
    Label,
    PatientProfile,
    PatientRecord,
    Sex,
)
from lemtrada.storage.ports import AuditEntry, PatientRepository, StoredPatient

AUDIT = AuditEntry(actor_sub="test", actor_role="admins", at=datetime(2026, 1, 1, tzinfo=UTC), action="t", target="t")


@dataclass(frozen=True)
class FakeNotice:
    patient_id: str
    code: str
    start: date
    end: date
    kind: str = "milestone"

    @property
    def key(self) -> str:
        return f"{self.code}@{self.start.isoformat()}"

    def to_digest_item(self) -> Mapping[str, Any]:
        return {"patient_id": self.patient_id, "kind": self.kind, "code": self.code, "date": self.start.isoformat()}


@dataclass
class WindowRules:
    """SweepRules over a fixed table of notice windows per patient."""

    windows: dict[str, list[FakeNotice]] = field(default_factory=dict)

    def notices_due(self, record: PatientRecord, on: date, sent: frozenset[str], label: Label) -> Sequence[FakeNotice]:
        return [n for n in self.windows.get(record.patient_id, []) if n.start <= on <= n.end and n.key not in sent]

    def next_check(self, record: PatientRecord, sent: frozenset[str], label: Label, after: date) -> date | None:
        candidates = [
            max(n.start, after + timedelta(days=1))
            for n in self.windows.get(record.patient_id, [])
            if n.key not in sent and n.end > after
        ]
        return min(candidates, default=None)

    def first_check(self, patient_id: str) -> date | None:
        return min((n.start for n in self.windows.get(patient_id, [])), default=None)


def add_clinic(repo: PatientRepository, clinic_id: str, timezone: str, digest_hour: int = 0) -> None:
    """A clinic; ``digest_hour`` 0 by default, so a run at any hour sweeps its local date (the tests of what a
    sweep owes; tests/unit/sweep/test_digest_hours.py covers the hour itself)."""
    repo.save_clinic(Clinic(clinic_id, f"Clinic {clinic_id}", timezone, Label.US, digest_hour), None, AUDIT)


def add_patient(
    repo: PatientRepository,
    patient_id: str,
    clinic_id: str,
    next_check: date | None,
    withdrawn_on: date | None = None,
) -> None:
    enrollment = Enrollment(
        birth_date=date(1990, 1, 1),
        sex=Sex.FEMALE,
        reproductive_potential=False,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=2,
        contraindications=frozenset(),
        enrolled_on=date(2026, 1, 1),
    )
    profile = PatientProfile(patient_id, clinic_id, enrollment, withdrawn_on=withdrawn_on)
    repo.create_patient(
        StoredPatient(
            record=PatientRecord(profile=profile),
            version=1,
            enrolled_at=datetime(2026, 1, 1, tzinfo=UTC),
            next_check=next_check,
        ),
        AUDIT,
    )


class Crash(BaseException):
    """Stands for the process dying at this point (not an error any handler may catch)."""


def crash_on(obj: Any, method: str, call: int = 1, after: bool = False) -> Callable[[], int]:
    """Make `obj.method` raise Crash on its `call`-th call (before it runs, or right after it ran)."""
    original = getattr(obj, method)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call and not after:
            raise Crash(method)
        result = original(*args, **kwargs)
        if calls["n"] == call and after:
            raise Crash(method)
        return result

    setattr(obj, method, wrapper)
    return lambda: calls["n"]
