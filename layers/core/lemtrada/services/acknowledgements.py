"""Acknowledgements (DESIGN 7): a clinician answers a finding, a deviation or an overdue/missed occurrence.

An acknowledged finding is closed (no longer open, no longer a readiness blocker, not owed in the digest); an
acknowledged deviation is not owed in the digest; an acknowledged occurrence escalates no further (its overdue
and missed notices count as sent). All of it follows from the stored acknowledgements, read with the record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lemtrada.regimen import (
    OccurrenceStatus,
    all_findings,
    build_schedule,
    next_check,
    protocol_for,
    settled_keys,
)
from lemtrada.services.actor import Actor
from lemtrada.services.base import PatientContext, UseCase, retry_on_conflict
from lemtrada.services.errors import NotFound, ValidationFailed, Violation
from lemtrada.services.views import AcknowledgementView
from lemtrada.services.worklists import projection_update, with_changes_on
from lemtrada.storage.ports import (
    Acknowledgement,
    AlreadyExists,
    StoredPatient,
    VersionConflict,
    with_acknowledgements,
)

KINDS = ("finding", "deviation", "occurrence")
ACTIONS = ("reviewed", "repeat_test_ordered", "referred", "treatment_started", "patient_contacted", "not_applicable")
_ACKNOWLEDGEABLE = (OccurrenceStatus.OVERDUE, OccurrenceStatus.MISSED)


@dataclass(frozen=True, slots=True)
class AcknowledgementInput:
    kind: str
    ref: str
    action: str


@dataclass(frozen=True, slots=True)
class AcknowledgementRecorded:
    view: AcknowledgementView
    created: bool  # False: the ref was acknowledged before; the view is the stored acknowledgement


def acknowledgement_view(ack: Acknowledgement) -> AcknowledgementView:
    return AcknowledgementView(kind=ack.kind, ref=ack.ref, action=ack.action, by=ack.by, at=ack.at)


def settled(stored: StoredPatient) -> frozenset[str]:
    """Notice keys the sweep must treat as sent for this stored patient (the engine's ``settled_keys``)."""
    return settled_keys(stored.patient_id, stored.sent_notices, ((a.kind, a.ref) for a in stored.acknowledgements))


def acknowledged_refs(stored: StoredPatient, kind: str) -> frozenset[str]:
    return frozenset(ack.ref for ack in stored.acknowledgements if ack.kind == kind)


class Acknowledging(UseCase):
    def acknowledge(self, actor: Actor, patient_id: str, data: AcknowledgementInput) -> AcknowledgementRecorded:
        """201 with the new acknowledgement; 200 with the stored one when the ref was acknowledged already."""

        def attempt() -> AcknowledgementRecorded:
            context = self.patient(actor, patient_id, write=True)
            for stored_ack in context.stored.acknowledgements:
                if (stored_ack.kind, stored_ack.ref) == (data.kind, data.ref):
                    return AcknowledgementRecorded(acknowledgement_view(stored_ack), created=False)
            _check_ref(context, data)
            ack = Acknowledgement(kind=data.kind, ref=data.ref, action=data.action, by=actor.sub, at=self.clock())
            after = replace(
                context.stored,
                record=with_acknowledgements(context.record, [ack]),
                acknowledgements=(*context.stored.acknowledgements, ack),
            )
            protocol = protocol_for(context.clinic.clinic.label)
            upcoming = next_check(after.record, settled(after), protocol, after=context.stored.swept_through)
            label = context.clinic.clinic.label
            worklist = projection_update(context.stored, after.record, after.acknowledgements, context.today, label)
            upcoming = with_changes_on(upcoming, worklist, context.stored)
            audit = self.audit(actor, context.role, "acknowledgement.recorded", f"ACK#{data.kind}#{data.ref}")
            try:
                self.repository.acknowledge(patient_id, ack, context.stored.version, upcoming, audit, worklist=worklist)
            except AlreadyExists as error:
                # Another device acknowledged it in between: re-read and answer with the stored one.
                raise VersionConflict("acknowledged meanwhile") from error
            return AcknowledgementRecorded(acknowledgement_view(ack), created=True)

        return retry_on_conflict(attempt)


def _check_ref(context: PatientContext, data: AcknowledgementInput) -> None:
    """404 for a ref the record does not hold; 422 ``not_acknowledgeable`` for an occurrence not overdue/missed."""
    record = context.record
    missing = NotFound(f"no {data.kind} {data.ref} on this patient")
    if data.kind == "finding":
        if all(found.finding_id != data.ref for found in all_findings(record)):
            raise missing
        return
    if data.kind == "deviation":
        day, _, code = data.ref.partition(":")
        if not any(
            infusion.date.isoformat() == day and any(d.code == code for d in infusion.deviations)
            for infusion in record.infusions
        ):
            raise missing
        return
    item, _, k = data.ref.rpartition(":")
    schedule = build_schedule(record, context.today, protocol_for(context.clinic.clinic.label))
    found = next((o for o in schedule.occurrences if o.item.value == item and str(o.k) == k), None)
    if found is None:
        raise missing
    if found.status not in _ACKNOWLEDGEABLE:
        raise ValidationFailed(
            f"{data.ref} is {found.status.value}: only an overdue or missed occurrence is acknowledged",
            code="not_acknowledgeable",
            violations=[Violation("not_acknowledgeable", f"status {found.status.value}", field="ref")],
        )
