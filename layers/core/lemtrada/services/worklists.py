"""The worklist projection (DESIGN 8) as every write keeps it: computed by the regimen rule, written with the write.

Each patient write (enrollment, result, infusion, acknowledgement, profile change, the sweep) passes
``projection_update`` to its repository call; it is None when nothing a reader sees changed, so a write whose
worklist stays the same adds no write unit. ``with_changes_on`` folds the projection's "changes on" date into the
due index's ``next_check``, so the sweep visits the patient on the day its worklist changes by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from lemtrada.regimen import protocol_for
from lemtrada.regimen.records import Label, PatientRecord
from lemtrada.regimen.worklist import PatientWorklist, worklist_for
from lemtrada.storage.ports import Acknowledgement, StoredPatient, WorklistUpdate


def compute(
    record: PatientRecord, acknowledgements: Iterable[Acknowledgement], day: date, label: Label
) -> PatientWorklist:
    return worklist_for(record, ((a.kind, a.ref) for a in acknowledgements), day, protocol_for(label))


def projection_update(
    before: StoredPatient | None,
    record: PatientRecord,
    acknowledgements: Iterable[Acknowledgement],
    day: date,
    label: Label,
) -> WorklistUpdate | None:
    """The projection to write with a change of ``before`` into ``record`` (None: the stored one still holds).

    ``before`` is the stored patient as read (its projection is the one the counters include); None on
    enrollment."""
    after = compute(record, acknowledgements, day, label)
    stored = None if before is None else before.worklist
    if stored is not None and after.same_content(stored):
        return None
    return WorklistUpdate(
        patient_id=record.profile.patient_id,
        clinic_id=record.profile.clinic_id,
        after=after,
        before=stored,
    )


def with_changes_on(
    next_check: date | None, update: WorklistUpdate | None, before: StoredPatient | None
) -> date | None:
    """``next_check`` moved earlier to the day the (new or kept) projection changes by itself."""
    if update is not None:
        changes_on = update.after.changes_on
    else:
        changes_on = None if before is None or before.worklist is None else before.worklist.changes_on
    candidates = [d for d in (next_check, changes_on) if d is not None]
    return min(candidates, default=None)
