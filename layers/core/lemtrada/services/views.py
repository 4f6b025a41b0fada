"""What the use cases answer: the API's response shapes (pydantic, so the OpenAPI document shows them).

No names and no free text beyond what the caller is entitled to: the patient appears by ``patient_id`` and the
clinic's own ``external_ref``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lemtrada.regimen.records import (
    Contraindication,
    Diagnosis,
    InfusionRoute,
    Label,
    PatientStatus,
    ResultItem,
    Severity,
    Sex,
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClinicView(_View):
    clinic_id: str
    name: str
    timezone: str
    label: Label
    digest_hour: int
    reminder_hour: int
    version: int


class FindingView(_View):
    """A rule's answer: ``code`` for machines, ``detail`` for people, ``source`` for the label section."""

    code: str
    detail: str
    source: str | None = None


class DeviationView(_View):
    code: str
    severity: Severity
    detail: str | None = None


class LabFindingView(_View):
    """A safety finding raised on a lab result (DESIGN 7); ``finding_id`` is what an acknowledgement names."""

    finding_id: str
    result_id: str
    date: date
    code: str
    severity: Severity
    detail: str
    source: str


class AnalyteView(_View):
    """A measured value as sent (unit and the lab's range unconverted)."""

    code: str
    value: float
    unit: str
    low: float | None = None
    high: float | None = None


class AcknowledgementView(_View):
    kind: str
    ref: str
    action: str
    by: str
    at: datetime


class PregnancyView(_View):
    reported_on: date
    ended_on: date | None = None


class ProfileView(_View):
    birth_date: date
    sex: Sex
    reproductive_potential: bool
    diagnosis: Diagnosis
    prior_dmt_count: int
    contraindications: list[Contraindication]
    justification: str | None
    enrolled_on: date
    warnings: list[str]
    pregnancies: list[PregnancyView]
    pregnant: bool
    active_infection: bool
    withdrawn_on: date | None
    rapidly_evolving_severe: bool = False  # EU SmPC 4.1, sent at enrollment


class InfusionView(_View):
    date: date
    course: int
    day: int
    dose_mg: float
    route: InfusionRoute
    diluted_at: datetime
    started_at: datetime
    ended_at: datetime
    co_infused: bool
    methylprednisolone_mg: float
    antiviral_prophylaxis: bool
    observation_minutes: int | None
    batch_number: str | None
    deviations: list[DeviationView]


class CourseView(_View):
    course: int
    first_date: date
    last_date: date
    infusion_count: int
    required: int
    complete: bool
    infusions: list[InfusionView]


class MilestoneView(_View):
    """A key date of the regimen; ``reached`` once the date has come (as of the answer's date)."""

    code: str
    date: date
    reached: bool


class PatientView(_View):
    patient_id: str
    clinic_id: str
    external_ref: str | None
    status: PatientStatus
    profile: ProfileView
    courses: list[CourseView]
    key_dates: list[MilestoneView]
    monitoring_ends: date | None
    enrolled_at: datetime
    version: int
    open_findings: list[LabFindingView] = []
    # Every stored acknowledgement; action ``history``: a finding stored settled at enrollment (DESIGN 8).
    acknowledgements: list[AcknowledgementView] = []


class PatientSummaryView(_View):
    """A row of the clinic's patient list (read from the clinic index: the profile, not the whole record)."""

    patient_id: str
    external_ref: str | None
    enrolled_on: date
    enrolled_at: datetime
    withdrawn: bool
    next_check: date | None
    status: PatientStatus | None = None  # from the worklist projection (None before its first write)
    priority: Literal["critical", "major", "minor", "info"] | None = None  # most severe worklist item


class PatientPageView(_View):
    patients: list[PatientSummaryView]
    next_cursor: str | None


class RebuildPageView(_View):
    """One page of a worklist rebuild: patients read, projections written, and where the next page starts."""

    examined: int
    rebuilt: int
    next_cursor: str | None


class OccurrenceRef(_View):
    item: ResultItem
    k: int
    due_date: date


class ResultView(_View):
    result_id: str
    item: ResultItem
    date: date
    value: float | None
    unit: str | None
    status: str | None
    satisfied: OccurrenceRef | None
    analytes: list[AnalyteView] = []
    findings: list[LabFindingView] = []  # what this write raised (own first; others name their result_id)


class ResultsView(_View):
    patient_id: str
    results: list[ResultView]  # newest first, each with its values, reference ranges and findings


class ReadinessView(_View):
    start: date
    course: int
    ready: bool
    blockers: list[FindingView]
    earliest_start: date | None


class OccurrenceView(_View):
    item: ResultItem
    k: int
    due_date: date
    window_opens: date
    status: str
    satisfied_by: str | None  # the result_id that satisfied it
    findings: list[LabFindingView] = []  # that result's findings (DESIGN 7)


class ScheduleView(_View):
    patient_id: str
    as_of: date
    occurrences: list[OccurrenceView]
    milestones: list[MilestoneView]
    monitoring_ends: date | None


Day = date
"""``date`` where a field of that name hides the type."""


class WorklistItemView(_View):
    """One item of a patient's worklist (DESIGN 8); ``ref`` is what POST .../acknowledgements takes."""

    kind: Literal["occurrence", "finding", "deviation", "milestone"]
    code: str
    severity: Literal["critical", "major", "minor", "info"]
    ref: str
    k: int | None = None
    state: str | None = None
    due_date: Day | None = None
    date: Day | None = None


class WorklistPatientView(_View):
    patient_id: str
    external_ref: str | None
    status: PatientStatus
    priority: Literal["critical", "major", "minor", "info"]
    items: list[WorklistItemView]


class WorklistCountsView(_View):
    """The clinic's whole worklist (whatever ``severity`` filters): items per severity, patients with items."""

    critical: int
    major: int
    minor: int
    info: int
    patients: int


class WorklistView(_View):
    clinic_id: str
    date: date
    counts: WorklistCountsView
    patients: list[WorklistPatientView]  # by priority (critical first), then oldest item
    next_cursor: str | None


class MeView(_View):
    patient: PatientView
    schedule: ScheduleView


# ---- patient reminders (DESIGN 9) --------------------------------------------------------------------------------


class DeviceView(_View):
    """A registered phone: never its token (nor the endpoint that stands for it)."""

    device_id: str
    platform: Literal["apns", "fcm"]
    registered_at: datetime
    enabled: bool


class RemindersView(_View):
    enabled: bool


class DevicesView(_View):
    devices: list[DeviceView]
    reminders: RemindersView
