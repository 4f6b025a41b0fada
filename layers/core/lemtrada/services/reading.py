"""Reading a patient (clinicians of its clinic, or the patient itself) and a clinic's worklist."""

from __future__ import annotations

from datetime import date
from typing import Any

from lemtrada.regimen import assess_readiness, build_schedule, protocol_for
from lemtrada.regimen.schedule import Schedule
from lemtrada.regimen.worklist import SEVERITIES, rank_key, rank_of
from lemtrada.services.actor import Actor
from lemtrada.services.base import PatientContext, UseCase, local_today
from lemtrada.services.errors import NotFound, ValidationFailed, Violation
from lemtrada.services.fhir_export import care_plan_bundle
from lemtrada.services.presenters import patient_view, result_view, schedule_view, worklist_patient_view
from lemtrada.services.views import (
    FindingView,
    MeView,
    PatientView,
    ReadinessView,
    ResultsView,
    ScheduleView,
    WorklistCountsView,
    WorklistView,
)
from lemtrada.services.worklists import compute
from lemtrada.storage import keys
from lemtrada.storage.ports import COUNT_NAMES, StoredClinic, WorklistPage, WorklistRow

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_PAGE = 100


def _checked_query(severity: str | None, limit: int) -> int | None:
    """422 naming the field for a limit outside 1-200 or an unknown severity; the severity's rank otherwise."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}",
            violations=[Violation("out_of_range", f"between 1 and {MAX_LIMIT}", field="limit")],
        )
    if severity is None:
        return None
    if severity not in SEVERITIES:
        raise ValidationFailed(
            "unknown severity",
            violations=[Violation("invalid", "one of " + ", ".join(SEVERITIES), field="severity")],
        )
    return rank_of(severity)


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

    def results(self, actor: Actor, patient_id: str) -> ResultsView:
        """Every stored result, newest first, with its analytes, findings and the occurrence it satisfied as of the
        clinic's today (one schedule built for all of them)."""
        context = self.patient(actor, patient_id)
        schedule = self._schedule(context, context.today)
        satisfied = {o.satisfied_by: o for o in schedule.occurrences if o.satisfied_by is not None}
        ordered = sorted(context.record.results, key=lambda r: (r.date, r.result_id), reverse=True)
        return ResultsView(
            patient_id=patient_id,
            results=[result_view(result, satisfied.get(result.result_id)) for result in ordered],
        )

    def schedule(self, actor: Actor, patient_id: str, as_of: date | None) -> ScheduleView:
        context = self.patient(actor, patient_id)
        day = as_of or context.today
        return schedule_view(context.stored, self._schedule(context, day), day)

    def schedule_for_calendar(self, actor: Actor, patient_id: str) -> tuple[PatientContext, Schedule]:
        context = self.patient(actor, patient_id)
        return context, self._schedule(context, context.today)

    def care_plan(self, actor: Actor, patient_id: str) -> dict[str, Any]:
        """The FHIR R4 Bundle of the patient's care plan as of the clinic's today (DESIGN 10, "Care plan out"): the
        same callers as ``get_patient``, the same 404 for anyone else."""
        context = self.patient(actor, patient_id)
        return care_plan_bundle(
            context.record,
            self._schedule(context, context.today),
            protocol_for(context.clinic.clinic.label),
            external_ref=context.stored.external_ref,
            generated_at=self.clock(),
        )

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

    def worklist(
        self,
        actor: Actor,
        clinic_id: str,
        on: date | None,
        *,
        severity: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> WorklistView:
        """What needs attention, grouped by patient (DESIGN 8). On the clinic's today (the default) it is the
        projection: one Query of ``limit`` rows of the WorklistIndex plus the clinic's counter shards, whatever the
        clinic's size. Any other date is computed from the records (docs/DECISIONS.md "Worklist")."""
        if not actor.clinician_of(clinic_id):
            raise NotFound(f"clinic {clinic_id} not found")
        at_least = _checked_query(severity, limit)
        clinic = self.clinic(clinic_id)
        today = local_today(clinic, self.clock())
        day = on or today
        try:
            if day == today:
                page = self.repository.worklist_page(clinic_id, limit, cursor, at_least=at_least)
                counts = self.repository.worklist_counts(clinic_id)
            else:
                page, counts = self._computed(clinic, day, limit, cursor, at_least)
        except ValueError as error:
            raise ValidationFailed(
                "invalid page cursor", violations=[Violation("invalid", str(error), field="cursor")]
            ) from error
        return WorklistView(
            clinic_id=clinic_id,
            date=day,
            counts=WorklistCountsView(**{name: counts.get(name, 0) for name in COUNT_NAMES}),
            patients=[worklist_patient_view(row) for row in page.rows],
            next_cursor=page.cursor,
        )

    def _computed(
        self, clinic: StoredClinic, day: date, limit: int, cursor: str | None, at_least: int | None
    ) -> tuple[WorklistPage, dict[str, int]]:
        """The worklist of a date other than the clinic's today, from every record of the clinic (its cost grows
        with the clinic: a look back or ahead, not the morning list); ordered and paged as the index is."""
        clinic_id = clinic.clinic.clinic_id
        after = keys.decode_worklist_cursor(clinic_id, cursor)[0] if cursor is not None else None
        ranked: list[tuple[str, WorklistRow]] = []
        counts = dict.fromkeys(COUNT_NAMES, 0)
        listed: str | None = None
        while True:
            batch = self.repository.list_clinic_patients(clinic_id, _PAGE, listed)
            for stored in batch.patients:
                worklist = compute(stored.record, stored.acknowledgements, day, clinic.clinic.label)
                rank = rank_key(worklist, stored.patient_id)
                if rank is None:
                    continue
                for name, number in worklist.counts().items():
                    counts[name] += number
                counts["patients"] += 1
                ranked.append((rank, WorklistRow(stored.patient_id, stored.external_ref, worklist)))
            listed = batch.cursor
            if listed is None:
                break
        ranked.sort(key=lambda entry: entry[0])
        kept = [
            entry
            for entry in ranked
            if (after is None or entry[0] > after) and (at_least is None or entry[0] < str(at_least + 1))
        ]
        more = len(kept) > limit
        next_cursor = keys.encode_worklist_cursor(clinic_id, kept[limit - 1][0]) if more else None
        return WorklistPage(rows=tuple(row for _, row in kept[:limit]), cursor=next_cursor), counts

    @staticmethod
    def _schedule(context: PatientContext, day: date) -> Schedule:
        return build_schedule(context.record, day, protocol_for(context.clinic.clinic.label))
