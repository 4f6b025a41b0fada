"""The alemtuzumab regimen: protocol data (US label by default, EU SmPC variant) plus a pure engine.

No AWS import and no I/O here: every function reads a ``PatientRecord`` and a date and answers as of
that date, so a sweep can be replayed for any past day and every rule can be unit-tested.
"""

from lemtrada.regimen.analytes import (
    AnalyteError,
    AnalytesRejected,
    Measured,
    analyte_errors,
    analyte_for_loinc,
    check_analytes,
    measured,
    result_analytes,
    to_canonical,
)
from lemtrada.regimen.courses import CourseSummary, summarize_courses
from lemtrada.regimen.eligibility import EligibilityDecision, check_eligibility
from lemtrada.regimen.findings import Finding
from lemtrada.regimen.infusions import InfusionOnSameDate, InfusionRejected, is_replay, plan_infusion
from lemtrada.regimen.notices import (
    Notice,
    NoticeKind,
    deviation_key,
    finding_key,
    milestone_key,
    next_check,
    notices_due,
    occurrence_key,
    settled_keys,
)
from lemtrada.regimen.protocol import (
    EU_PROTOCOL,
    US_PROTOCOL,
    AnalyteSpec,
    Audience,
    Check,
    FindingThresholds,
    MonitoringItem,
    Protocol,
    Requirement,
    Rule,
    protocol_for,
)
from lemtrada.regimen.readiness import Readiness, assess_readiness
from lemtrada.regimen.records import Analyte, LabFinding
from lemtrada.regimen.safety import (
    add_result,
    all_findings,
    finding_id,
    findings_for,
    new_findings,
    open_critical_findings,
    open_findings,
    with_findings,
)
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
    "Analyte",
    "AnalyteError",
    "AnalyteSpec",
    "AnalytesRejected",
    "Audience",
    "Check",
    "CourseSummary",
    "EligibilityDecision",
    "Finding",
    "FindingThresholds",
    "InfusionOnSameDate",
    "InfusionRejected",
    "LabFinding",
    "Measured",
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
    "add_result",
    "all_findings",
    "analyte_errors",
    "analyte_for_loinc",
    "assess_readiness",
    "build_schedule",
    "check_analytes",
    "check_eligibility",
    "deviation_key",
    "finding_id",
    "finding_key",
    "findings_for",
    "is_replay",
    "measured",
    "milestone_key",
    "new_findings",
    "next_check",
    "notices_due",
    "occurrence_key",
    "open_critical_findings",
    "open_findings",
    "patient_status",
    "plan_infusion",
    "protocol_for",
    "result_analytes",
    "satisfied_occurrence",
    "settled_keys",
    "summarize_courses",
    "to_canonical",
    "with_findings",
]
