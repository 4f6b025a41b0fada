"""A patient's record as plain immutable data: the only input the regimen rules read.

Everything here is a fact that was entered (or derived once, at recording time, and stored with the
fact, like an infusion's course and deviations). Nothing here knows about DynamoDB or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Label(StrEnum):
    """Which regulator's label a clinic follows; selects the protocol."""

    US = "US"
    EU = "EU"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class Diagnosis(StrEnum):
    RELAPSING_REMITTING = "relapsing_remitting"
    ACTIVE_SECONDARY_PROGRESSIVE = "active_secondary_progressive"
    CLINICALLY_ISOLATED_SYNDROME = "clinically_isolated_syndrome"
    NON_ACTIVE_SECONDARY_PROGRESSIVE = "non_active_secondary_progressive"
    PRIMARY_PROGRESSIVE = "primary_progressive"


class Contraindication(StrEnum):
    HIV = "hiv"
    HYPERSENSITIVITY = "hypersensitivity"


class ResultItem(StrEnum):
    """Every result code the API accepts (monitoring items first, then checklist entries)."""

    CBC = "cbc"
    CREATININE = "creatinine"
    URINALYSIS = "urinalysis"
    LIVER = "liver"
    THYROID = "thyroid"
    SKIN_EXAM = "skin_exam"
    HPV_SCREENING = "hpv_screening"
    CD4 = "cd4"
    URINE_PROTEIN_CREATININE = "urine_protein_creatinine"
    IMMUNIZATIONS = "immunizations"
    TB_SCREENING = "tb_screening"
    LISTERIA_COUNSELING = "listeria_counseling"
    FETAL_RISK_EDUCATION = "fetal_risk_education"
    VZV = "vzv"


class VzvStatus(StrEnum):
    HISTORY = "history"
    VACCINATED = "vaccinated"
    ANTIBODY_POSITIVE = "antibody_positive"
    ANTIBODY_NEGATIVE = "antibody_negative"


class TbStatus(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    TREATED = "treated"


class InfusionRoute(StrEnum):
    IV_INFUSION = "iv_infusion"
    IV_PUSH = "iv_push"
    IV_BOLUS = "iv_bolus"


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class PatientStatus(StrEnum):
    ENROLLED = "enrolled"
    IN_TREATMENT = "in_treatment"
    MONITORING = "monitoring"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


DEFAULT_DIGEST_HOUR = 6
"""A clinic's digest hour unless it names one: early enough for the morning huddle (DESIGN 8)."""


@dataclass(frozen=True, slots=True)
class Clinic:
    """An MS clinic: its time zone defines "today" for its patients; its label selects the protocol."""

    clinic_id: str
    name: str
    timezone: str
    label: Label
    digest_hour: int = DEFAULT_DIGEST_HOUR
    """The local hour (0-23) from which the clinic's digest for its date is swept and sent (DESIGN 8)."""
    reminder_hour: int = 9
    """The local hour (0-23) at which the clinic's patients get their reminders for its date (DESIGN 9)."""


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What a clinician submits to enroll a patient; judged by the eligibility rules."""

    birth_date: date
    sex: Sex
    reproductive_potential: bool
    diagnosis: Diagnosis
    prior_dmt_count: int
    contraindications: frozenset[Contraindication]
    enrolled_on: date
    justification: str | None = None
    rapidly_evolving_severe: bool = False  # EU SmPC 4.1: admits zero prior DMTs


@dataclass(frozen=True, slots=True)
class PregnancyEpisode:
    """A pregnancy reported on ``reported_on`` and, once known, ended on ``ended_on`` (exclusive)."""

    reported_on: date
    ended_on: date | None = None

    def ongoing_on(self, day: date) -> bool:
        return self.reported_on <= day and (self.ended_on is None or day < self.ended_on)


@dataclass(frozen=True, slots=True)
class PatientProfile:
    patient_id: str
    clinic_id: str
    enrollment: Enrollment
    warnings: tuple[str, ...] = ()
    pregnancies: tuple[PregnancyEpisode, ...] = ()
    active_infection: bool = False
    withdrawn_on: date | None = None

    @property
    def sex(self) -> Sex:
        return self.enrollment.sex

    @property
    def reproductive_potential(self) -> bool:
        return self.enrollment.reproductive_potential

    def pregnant_on(self, day: date) -> bool:
        return any(episode.ongoing_on(day) for episode in self.pregnancies)


@dataclass(frozen=True, slots=True)
class Deviation:
    code: str
    severity: Severity
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class InfusionRequest:
    """An infusion as the clinician reports it, before the rules assign course, day and deviations.

    Times are timezone-aware. ``course`` is the clinician's explicit override (section 2.4).
    """

    date: date
    dose_mg: float
    diluted_at: datetime
    started_at: datetime
    ended_at: datetime
    route: InfusionRoute
    co_infused: bool
    methylprednisolone_mg: float
    antiviral_prophylaxis: bool
    observation_minutes: int | None = None
    batch_number: str | None = None
    course: int | None = None


@dataclass(frozen=True, slots=True)
class Infusion:
    """A stored infusion: the request plus what the rules decided when it was recorded."""

    date: date
    dose_mg: float
    diluted_at: datetime
    started_at: datetime
    ended_at: datetime
    route: InfusionRoute
    co_infused: bool
    methylprednisolone_mg: float
    antiviral_prophylaxis: bool
    course: int
    day: int
    observation_minutes: int | None = None
    batch_number: str | None = None
    deviations: tuple[Deviation, ...] = ()


@dataclass(frozen=True, slots=True)
class Analyte:
    """One measured value of a result, stored as sent; ``low``/``high`` are the lab's range, same unit."""

    code: str
    value: float
    unit: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class LabFinding:
    """A safety finding raised on a result (DESIGN 7), stored with it like deviations with infusions.

    ``finding_id`` is ``<result_id>:<code>``: unique within the patient because result ids are and a
    code is raised at most once per result. ``acknowledged`` is set by whoever loads the record from the
    stored acknowledgements; an acknowledged finding no longer blocks readiness.
    """

    finding_id: str
    result_id: str
    date: date
    code: str
    severity: Severity
    detail: str
    source: str
    acknowledged: bool = False

    @property
    def open_critical(self) -> bool:
        return self.severity == Severity.CRITICAL and not self.acknowledged


@dataclass(frozen=True, slots=True)
class Result:
    """A lab result, exam or checklist entry. ``status`` carries categorical answers (vzv, tb).

    ``analytes`` are the measured values (DESIGN 7); ``findings`` what the rules raised when it was stored.
    """

    result_id: str
    item: ResultItem
    date: date
    value: float | None = None
    unit: str | None = None
    status: str | None = None
    analytes: tuple[Analyte, ...] = ()
    findings: tuple[LabFinding, ...] = ()


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """Everything the rules need about one patient. Infusions and results are kept sorted by date."""

    profile: PatientProfile
    infusions: tuple[Infusion, ...] = ()
    results: tuple[Result, ...] = field(default=())

    @property
    def patient_id(self) -> str:
        return self.profile.patient_id
