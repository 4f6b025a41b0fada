"""Turn stored records and the engine's answers into the API's views (one place, so every route agrees)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from lemtrada.regimen import Occurrence, build_schedule, open_findings, protocol_for, summarize_courses
from lemtrada.regimen.records import Infusion, LabFinding, PatientProfile, Result
from lemtrada.regimen.schedule import Schedule
from lemtrada.services.views import (
    AcknowledgementView,
    AnalyteView,
    CourseView,
    DeviationView,
    InfusionView,
    LabFindingView,
    MilestoneView,
    OccurrenceRef,
    OccurrenceView,
    PatientSummaryView,
    PatientView,
    PregnancyView,
    ProfileView,
    ResultView,
    ScheduleView,
    WorklistItemView,
    WorklistPatientView,
)
from lemtrada.storage.ports import StoredClinic, StoredPatient, WorklistRow


def profile_view(profile: PatientProfile, today: date) -> ProfileView:
    enrollment = profile.enrollment
    return ProfileView(
        birth_date=enrollment.birth_date,
        sex=enrollment.sex,
        reproductive_potential=enrollment.reproductive_potential,
        diagnosis=enrollment.diagnosis,
        prior_dmt_count=enrollment.prior_dmt_count,
        contraindications=sorted(enrollment.contraindications),
        justification=enrollment.justification,
        enrolled_on=enrollment.enrolled_on,
        warnings=list(profile.warnings),
        pregnancies=[PregnancyView(reported_on=p.reported_on, ended_on=p.ended_on) for p in profile.pregnancies],
        pregnant=profile.pregnant_on(today),
        active_infection=profile.active_infection,
        withdrawn_on=profile.withdrawn_on,
        rapidly_evolving_severe=enrollment.rapidly_evolving_severe,
    )


def infusion_view(infusion: Infusion) -> InfusionView:
    return InfusionView(
        date=infusion.date,
        course=infusion.course,
        day=infusion.day,
        dose_mg=infusion.dose_mg,
        route=infusion.route,
        diluted_at=infusion.diluted_at,
        started_at=infusion.started_at,
        ended_at=infusion.ended_at,
        co_infused=infusion.co_infused,
        methylprednisolone_mg=infusion.methylprednisolone_mg,
        antiviral_prophylaxis=infusion.antiviral_prophylaxis,
        observation_minutes=infusion.observation_minutes,
        batch_number=infusion.batch_number,
        deviations=[DeviationView(code=d.code, severity=d.severity, detail=d.detail) for d in infusion.deviations],
    )


def finding_view(found: LabFinding) -> LabFindingView:
    return LabFindingView(
        finding_id=found.finding_id,
        result_id=found.result_id,
        date=found.date,
        code=found.code,
        severity=found.severity,
        detail=found.detail,
        source=found.source,
    )


def result_view(
    result: Result, satisfied: Occurrence | None, findings: Sequence[LabFinding] | None = None
) -> ResultView:
    """A stored result, the monitoring occurrence it satisfied (None: it satisfied none) and the findings the
    write raised (default: the result's own)."""
    raised = result.findings if findings is None else findings
    return ResultView(
        result_id=result.result_id,
        item=result.item,
        date=result.date,
        value=result.value,
        unit=result.unit,
        status=result.status,
        satisfied=(
            OccurrenceRef(item=satisfied.item, k=satisfied.k, due_date=satisfied.due_date) if satisfied else None
        ),
        analytes=[
            AnalyteView(code=a.code, value=a.value, unit=a.unit, low=a.low, high=a.high) for a in result.analytes
        ],
        findings=[finding_view(f) for f in raised],
    )


def milestone_views(schedule: Schedule) -> list[MilestoneView]:
    return [MilestoneView(code=m.code, date=m.date, reached=m.reached) for m in schedule.milestones]


def patient_view(stored: StoredPatient, clinic: StoredClinic, today: date) -> PatientView:
    """Profile, courses, status and key dates, all as of the clinic's today."""
    protocol = protocol_for(clinic.clinic.label)
    record = stored.record
    schedule = build_schedule(record, today, protocol)
    courses = [
        CourseView(
            course=summary.course,
            first_date=summary.first_date,
            last_date=summary.last_date,
            infusion_count=summary.infusions,
            required=summary.required,
            complete=summary.complete,
            infusions=[infusion_view(i) for i in record.infusions if i.course == summary.course],
        )
        for summary in summarize_courses(record, protocol)
    ]
    return PatientView(
        patient_id=stored.patient_id,
        clinic_id=stored.clinic_id,
        external_ref=stored.external_ref,
        status=schedule.status,
        profile=profile_view(record.profile, today),
        courses=courses,
        key_dates=milestone_views(schedule),
        monitoring_ends=schedule.monitoring_ends,
        enrolled_at=stored.enrolled_at,
        version=stored.version,
        open_findings=[finding_view(f) for f in open_findings(record, today)],
        acknowledgements=[
            AcknowledgementView(kind=a.kind, ref=a.ref, action=a.action, by=a.by, at=a.at)
            for a in stored.acknowledgements
        ],
    )


def schedule_view(stored: StoredPatient, schedule: Schedule, as_of: date) -> ScheduleView:
    findings = {r.result_id: [finding_view(f) for f in r.findings] for r in stored.record.results if r.findings}
    return ScheduleView(
        patient_id=stored.patient_id,
        as_of=as_of,
        occurrences=[
            OccurrenceView(
                item=o.item,
                k=o.k,
                due_date=o.due_date,
                window_opens=o.window_opens,
                status=o.status.value,
                satisfied_by=o.satisfied_by,
                findings=findings.get(o.satisfied_by, []) if o.satisfied_by else [],
            )
            for o in schedule.occurrences
        ],
        milestones=milestone_views(schedule),
        monitoring_ends=schedule.monitoring_ends,
    )


def patient_summary(stored: StoredPatient) -> PatientSummaryView:
    profile = stored.record.profile
    return PatientSummaryView(
        patient_id=stored.patient_id,
        external_ref=stored.external_ref,
        enrolled_on=profile.enrollment.enrolled_on,
        enrolled_at=stored.enrolled_at,
        withdrawn=profile.withdrawn_on is not None,
        next_check=stored.next_check,
        status=None if stored.worklist is None else stored.worklist.status,
        priority=None if stored.worklist is None else stored.worklist.priority,  # type: ignore[arg-type]
    )


def worklist_patient_view(row: WorklistRow) -> WorklistPatientView:
    """A worklist row as the API answers it (the projection holds it ready)."""
    return WorklistPatientView(
        patient_id=row.patient_id,
        external_ref=row.external_ref,
        status=row.worklist.status,
        priority=row.worklist.priority,  # type: ignore[arg-type]
        items=[WorklistItemView.model_validate(item.to_json()) for item in row.worklist.items],
    )
