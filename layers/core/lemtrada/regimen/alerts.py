"""Which stored facts owe an immediate alert (DESIGN 7 "Critical alerts at once", DESIGN 8 "History is not news").

Pure: the recording service asks, for the findings and deviations a write is about to store, which of them owe
an alert; the storage layer writes an "alert owed" entry for each in the same transaction as the fact, so an
alert is owed exactly when its fact is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from lemtrada.regimen.history import is_history
from lemtrada.regimen.records import Infusion, LabFinding, Severity


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert owed: what the message names (opaque ids, codes, dates; never values)."""

    clinic_id: str
    patient_id: str
    kind: str  # "finding" or "deviation": what the alert is about
    code: str
    severity: Severity
    date: date
    finding_id: str | None = None

    @property
    def ref(self) -> str:
        """Unique within the patient and what an acknowledgement takes: the finding_id or ``<date>:<code>``."""
        return self.finding_id if self.finding_id is not None else f"{self.date.isoformat()}:{self.code}"


def finding_alerts(
    clinic_id: str, patient_id: str, enrolled_on: date, findings: Iterable[LabFinding]
) -> tuple[Alert, ...]:
    """The alerts newly stored findings owe: every critical one that is not history."""
    return tuple(
        Alert(clinic_id, patient_id, "finding", f.code, f.severity, f.date, f.finding_id)
        for f in findings
        if f.severity == Severity.CRITICAL and not is_history(f.date, enrolled_on)
    )


def deviation_alerts(clinic_id: str, patient_id: str, enrolled_on: date, infusion: Infusion) -> tuple[Alert, ...]:
    """The alerts a newly stored infusion owes: each critical deviation, unless the infusion is history."""
    if is_history(infusion.date, enrolled_on):
        return ()
    return tuple(
        Alert(clinic_id, patient_id, "deviation", d.code, d.severity, infusion.date)
        for d in infusion.deviations
        if d.severity == Severity.CRITICAL
    )
