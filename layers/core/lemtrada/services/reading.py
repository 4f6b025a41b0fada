"""Reading a patient (clinicians of its clinic, or the patient itself) and a clinic's worklist."""

from __future__ import annotations

from datetime import date, timedelta

from lemtrada.regimen import assess_readiness, build_schedule, open_findings, protocol_for
from lemtrada.regimen.records import Severity
from lemtrada.regimen.schedule import OccurrenceStatus, Schedule
from lemtrada.services.acknowledgements import acknowledged_refs
from lemtrada.services.actor import Actor
from lemtrada.services.base import PatientContext, UseCase, local_today
from lemtrada.services.errors import NotFound
from lemtrada.services.presenters import patient_view, schedule_view
from lemtrada.services.views import (
    FindingView,
    MeView,
    PatientView,
    ReadinessView,
    ScheduleView,
    WorklistDeviation,
    WorklistFinding,
    WorklistMilestone,
    WorklistOccurrence,
    WorklistView,
)

RECENT_DAYS = 30
"""The worklist shows milestones reached and deviations recorded in the 30 days up to its date."""

_ATTENTION = (OccurrenceStatus.DUE, OccurrenceStatus.OVERDUE, OccurrenceStatus.MISSED)
_PAGE = 100


class Reading(UseCase):
    def get_patient(self, actor: Actor, patient_id: str) -> PatientView:
        context = self.patient(actor, patient_id)
        return patient_view(context.stored, context.clinic, context.today)

    def readiness(self, actor: Actor, patient_id: str, start: date | None) -> ReadinessView:
        """Whether the next course may start on ``start`` (default: the clinic's today), and what blocks it."""
        context = self.patient(actor, patient_id)
        day = start or context.today
        readiness = assess_readiness(context.record, day, protocol_for(context.clinic.clinic.label))
        return ReadinessView(
            start=day,
            course=readiness.course,
            ready=readiness.ready,
            blockers=[FindingView(code=f.code, detail=f.detail, source=f.source) for f in readiness.blockers],
            earliest_start=readiness.earliest_start,
        )

    def schedule(self, actor: Actor, patient_id: str, as_of: date | None) -> ScheduleView:
        context = self.patient(actor, patient_id)
        day = as_of or context.today
        return schedule_view(context.stored, self._schedule(context, day), day)

    def schedule_for_calendar(self, actor: Actor, patient_id: str) -> tuple[PatientContext, Schedule]:
        context = self.patient(actor, patient_id)
        return context, self._schedule(context, context.today)

    def me(self, actor: Actor) -> MeView:
        """A patient's own record and schedule, found through the link made at enrollment."""
        patient_id = self.repository.patient_id_for_user(actor.sub) if actor.is_patient else None
        if patient_id is None:
            raise NotFound("no patient is linked to this user")
        context = self.patient(actor, patient_id)
        schedule = self._schedule(context, context.today)
        return MeView(
            patient=patient_view(context.stored, context.clinic, context.today),
            schedule=schedule_view(context.stored, schedule, context.today),
        )

    def worklist(self, actor: Actor, clinic_id: str, on: date | None) -> WorklistView:
        """Everything in a clinic that needs attention on a date: open occurrences, milestones, deviations and
        open findings (critical first); what a clinician acknowledged is left out."""
        if not actor.clinician_of(clinic_id):
            raise NotFound(f"clinic {clinic_id} not found")
        clinic = self.clinic(clinic_id)
        day = on or local_today(clinic, self.clock())
        protocol = protocol_for(clinic.clinic.label)
        recent = day - timedelta(days=RECENT_DAYS)
        occurrences: list[WorklistOccurrence] = []
        milestones: list[WorklistMilestone] = []
        deviations: list[WorklistDeviation] = []
        findings: list[WorklistFinding] = []
        cursor: str | None = None
        while True:
            page = self.repository.list_clinic_patients(clinic_id, _PAGE, cursor)
            for listed in page.patients:
                stored = self.repository.get_patient(listed.patient_id)
                if stored is None or stored.record.profile.withdrawn_on is not None:
                    continue
                pid, ref = stored.patient_id, stored.external_ref
                schedule = build_schedule(stored.record, day, protocol)
                seen_occurrences = acknowledged_refs(stored, "occurrence")
                seen_deviations = acknowledged_refs(stored, "deviation")
                occurrences.extend(
                    WorklistOccurrence(
                        patient_id=pid,
                        external_ref=ref,
                        item=o.item,
                        k=o.k,
                        due_date=o.due_date,
                        window_opens=o.window_opens,
                        status=o.status,
                    )
                    for o in schedule.occurrences
                    if o.status in _ATTENTION and f"{o.item.value}:{o.k}" not in seen_occurrences
                )
                milestones.extend(
                    WorklistMilestone(patient_id=pid, external_ref=ref, code=m.code, date=m.date)
                    for m in schedule.milestones
                    if m.reached and recent < m.date <= day
                )
                deviations.extend(
                    WorklistDeviation(
                        patient_id=pid,
                        external_ref=ref,
                        infusion_date=i.date,
                        course=i.course,
                        day=i.day,
                        code=d.code,
                        severity=d.severity,
                        detail=d.detail,
                    )
                    for i in stored.record.infusions
                    if recent < i.date <= day
                    for d in i.deviations
                    if f"{i.date.isoformat()}:{d.code}" not in seen_deviations
                )
                findings.extend(
                    WorklistFinding(
                        patient_id=pid,
                        external_ref=ref,
                        finding_id=f.finding_id,
                        result_id=f.result_id,
                        date=f.date,
                        code=f.code,
                        severity=f.severity,
                        detail=f.detail,
                    )
                    for f in open_findings(stored.record, day)
                )
            cursor = page.cursor
            if cursor is None:
                break
        occurrences.sort(key=lambda o: (o.due_date, o.patient_id, o.item, o.k))
        milestones.sort(key=lambda m: (m.date, m.patient_id, m.code))
        deviations.sort(key=lambda d: (d.infusion_date, d.patient_id, d.code))
        findings.sort(key=lambda f: (f.severity != Severity.CRITICAL, f.date, f.patient_id, f.finding_id))
        return WorklistView(
            clinic_id=clinic_id,
            date=day,
            occurrences=occurrences,
            milestones=milestones,
            deviations=deviations,
            findings=findings,
        )

    @staticmethod
    def _schedule(context: PatientContext, day: date) -> Schedule:
        return build_schedule(context.record, day, protocol_for(context.clinic.clinic.label))
