"""The alemtuzumab regimen: protocol data (US label by default, EU SmPC variant) plus a pure engine.

No AWS import and no I/O here: every function reads a ``PatientRecord`` and a date and answers as of
that date, so a sweep can be replayed for any past day and every rule can be unit-tested.
"""

from lemtrada.regimen.courses import CourseSummary, summarize_courses
from lemtrada.regimen.eligibility import EligibilityDecision, check_eligibility
from lemtrada.regimen.findings import Finding
from lemtrada.regimen.infusions import InfusionOnSameDate, InfusionRejected, is_replay, plan_infusion
from lemtrada.regimen.notices import (
    Notice,
    NoticeKind,
    deviation_key,
    milestone_key,
    next_check,
    notices_due,
    occurrence_key,
)
from lemtrada.regimen.protocol import (
    EU_PROTOCOL,
    US_PROTOCOL,
    Audience,
    Check,
    MonitoringItem,
    Protocol,
    Requirement,
    Rule,
    protocol_for,
)
from lemtrada.regimen.readiness import Readiness, assess_readiness
from lemtrada.regimen.schedule import (
    Milestone,
    Occurrence,
    OccurrenceStatus,
    Schedule,
    build_schedule,
    patient_status,
    satisfied_occurrence,
)

__all__ = [
    "EU_PROTOCOL",
    "US_PROTOCOL",
    "Audience",
    "Check",
    "CourseSummary",
    "EligibilityDecision",
    "Finding",
    "InfusionOnSameDate",
    "InfusionRejected",
    "Milestone",
    "MonitoringItem",
    "Notice",
    "NoticeKind",
    "Occurrence",
    "OccurrenceStatus",
    "Protocol",
    "Readiness",
    "Requirement",
    "Rule",
    "Schedule",
    "assess_readiness",
    "build_schedule",
    "check_eligibility",
    "deviation_key",
    "is_replay",
    "milestone_key",
    "next_check",
    "notices_due",
    "occurrence_key",
    "patient_status",
    "plan_infusion",
    "protocol_for",
    "satisfied_occurrence",
    "summarize_courses",
]
