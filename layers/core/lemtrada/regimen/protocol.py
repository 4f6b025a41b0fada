"""The regimen as data: one ``Protocol`` per label, read by a small engine.

Everything a clinic could argue about (thresholds, windows, cadences, which item is monitored for whom, and
where each rule comes from) lives here, so that the EU variant is the US protocol with a few values changed
and every answer the engine gives can name its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from lemtrada.regimen.records import Diagnosis, Label, ResultItem, Severity

# Source strings: a label section by its number in the current US PI and its heading (the heading survives
# renumbering between label revisions). Section 5 numbers are those of the current label (5.1 Autoimmunity ...
# 5.10 Autoimmune Hepatitis); docs/RULES.md says which numbers could not be checked against the label text.
PI_INDICATIONS = "US PI 1 (Indications and Usage)"
PI_DOSAGE = "US PI 2.2 (Recommended Dosage)"
PI_BEFORE = "US PI 2.1 (Assessments Prior to Starting LEMTRADA)"
PI_PREMEDICATION = "US PI 2.3 (Recommended Premedication and Concomitant Medications)"
PI_MONITORING = "US PI 2.4 (Laboratory Testing and Monitoring to Assess Safety)"
PI_ADMINISTRATION = "US PI 2.5 (Preparation and Administration)"
PI_CONTRAINDICATIONS = "US PI 4 (Contraindications)"
PI_AUTOIMMUNITY = "US PI 5.1 (Autoimmunity)"
PI_INFUSION_REACTIONS = "US PI 5.2 (Infusion Reactions)"
PI_STROKE = "US PI 5.3 (Stroke and Cervicocephalic Arterial Dissection)"
PI_MALIGNANCIES = "US PI 5.4 (Malignancies)"
PI_ITP = "US PI 5.6 (Immune Thrombocytopenia)"
PI_GLOMERULAR = "US PI 5.7 (Glomerular Nephropathies Including Anti-Glomerular Basement Membrane Disease)"
PI_THYROID = "US PI 5.8 (Thyroid Disorders)"
PI_CYTOPENIAS = "US PI 5.9 (Autoimmune Cytopenias)"
PI_LIVER = "US PI 5.10 (Autoimmune Hepatitis)"
PI_INFECTIONS = "US PI 5.17 (Infections)"
PI_VACCINES = PI_BEFORE  # immunizations 6 weeks before, VZV status: the label's pre-treatment assessments
PI_PREGNANCY = "US PI 8.1 (Pregnancy)"
PI_REPRODUCTIVE = "US PI 8.3 (Females and Males of Reproductive Potential)"
REMS = "LEMTRADA REMS (REMS@FDA 340)"
IWG_ITP = "IWG definition of ITP (platelets < 100 x10^9/L)"
KDIGO_AKI = "KDIGO AKI (creatinine >= 1.5 x baseline)"
FDA_DILI = "FDA guidance, Drug-Induced Liver Injury: Premarketing Clinical Evaluation (2009), Hy's law"
ENGINE = "service rule (see docs/RULES.md)"


class Audience(StrEnum):
    """Who a monitoring item or a checklist entry applies to."""

    ALL = "all"
    FEMALE = "female"
    FEMALE_REPRODUCTIVE = "female_reproductive"


class Check(StrEnum):
    """How the engine reads one readiness requirement."""

    RECENT = "recent"  # each item recorded within [S - window, S]
    RECORDED_BEFORE = "recorded_before"  # item recorded on or before S - lead_days
    STATUS = "status"  # latest result of the item on or before S has an accepted status (with its own lead)
    NO_PREGNANCY = "no_pregnancy"
    NO_ACTIVE_INFECTION = "no_active_infection"
    INTERVAL = "interval"  # S >= L + interval_months
    COURSE_LIMIT = "course_limit"  # course number <= max_courses
    NO_OPEN_CRITICAL_FINDING = "no_open_critical_finding"  # no unacknowledged critical finding dated <= S


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's code, where it comes from, and (for deviations) how serious breaking it is."""

    code: str
    source: str
    text: str
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class MonitoringItem:
    """One monitored item: D_k = T0 + k * cadence months (k >= 1) while D_k <= M."""

    item: ResultItem
    what: str
    cadence_months: int
    first_due_months: int
    who: Audience
    source: str
    loinc: str | None = None
    """The panel or test LOINC an order for this item carries (DESIGN 10: the Task's code); None when LOINC has no
    fitting code, and the export uses the local system ``urn:lemtrada:item`` alone (docs/INTEROP.md)."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One readiness blocker: ``code`` stands while the requirement is not met on the start date."""

    code: str
    check: Check
    source: str
    items: tuple[ResultItem, ...] = ()
    window_days: int | None = None
    window_months: int | None = None
    lead_days: int = 0
    accepted: tuple[tuple[str, int], ...] = ()  # status -> days it must precede S
    who: Audience = Audience.ALL
    interval_months: int = 0


@dataclass(frozen=True, slots=True)
class AnalyteSpec:
    """One measured analyte (DESIGN 7): where it belongs, its canonical UCUM unit and the other units taken.

    ``units`` maps every accepted unit (the canonical one included, factor 1) to the factor that turns a
    value in that unit into the canonical unit. ``default_low``/``default_high`` (canonical unit) apply when
    the lab sends no reference range for that bound.
    """

    code: str
    item: ResultItem
    canonical_unit: str
    units: tuple[tuple[str, float], ...]
    loinc: tuple[str, ...]
    default_low: float | None = None
    default_high: float | None = None
    unit_loinc: tuple[tuple[str, str], ...] = ()
    """LOINC by unit where the property differs (a mass concentration is another LOINC term than a molar one);
    every other unit takes ``loinc[0]``."""

    def factor(self, unit: str) -> float | None:
        return dict(self.units).get(unit)

    def loinc_for(self, unit: str) -> str:
        """The LOINC term of a value sent in ``unit`` (the export names what the lab measured)."""
        return dict(self.unit_loinc).get(unit, self.loinc[0])


@dataclass(frozen=True, slots=True)
class FindingThresholds:
    """Every number a safety finding compares with (canonical units), so a clinic could argue with data."""

    platelets_critical: float = 100.0  # platelets_below_100: value < this
    platelets_halved_ratio: float = 0.5  # platelets_halved: value <= ratio x previous
    neutrophils_critical: float = 0.5  # neutrophils_below_0_5: value < this
    neutrophils_low: float = 1.0  # neutrophils_below_1_0: critical <= value < this
    creatinine_rise_ratio: float = 1.5  # creatinine_rise: value >= ratio x baseline
    hematuria_rbc: float = 3.0  # hematuria: urine_rbc >= this
    renal_pair_days: int = 30  # renal_autoimmunity_suspected: rise and hematuria at most this many days apart
    transaminase_uln_multiple: float = 3.0  # alt or ast > multiple x high
    bilirubin_uln_multiple: float = 2.0  # bilirubin_total > multiple x high (Hy's law)


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """What reaches the patient's phone (DESIGN 9): the patient audience of the protocol's notices.

    The clinic's notices and the patient's reminders read one rule set (the occurrences' states, the course
    dates, the milestones); a ``ReminderRule`` only says which of those the patient hears of, with which
    lock-screen text (no test, no condition: ``{date}`` is the one variable) and for how many days it may still
    be sent after it became owed (a missed run catches up, a stale reminder is not sent)."""

    kind: str
    """``due`` / ``overdue`` (an occurrence in that state), ``infusion_warning`` (the day after a course's last
    infusion), ``monitoring_complete`` (the milestone)."""
    text: str
    source: str
    catch_up_days: int = 0
    """Days after the first owed day on which it is still sent (occurrences: while the state lasts)."""


@dataclass(frozen=True, slots=True)
class Protocol:
    """A label's regimen. Frozen data; the engine functions take it as their last argument."""

    label: Label
    monitoring: tuple[MonitoringItem, ...]
    course_one_requirements: tuple[Requirement, ...]
    later_course_requirements: tuple[Requirement, ...]
    rules: tuple[Rule, ...]
    analytes: tuple[AnalyteSpec, ...] = ()
    thresholds: FindingThresholds = FindingThresholds()
    lead_days: int = 7
    grace_days: int = 7
    min_age_years: int = 18
    relapsing_diagnoses: frozenset[Diagnosis] = frozenset(
        {Diagnosis.RELAPSING_REMITTING, Diagnosis.ACTIVE_SECONDARY_PROGRESSIVE}
    )
    min_prior_dmts: int = 2
    # Prior DMTs required when the enrollment says rapidly evolving severe MS (None: the label has no such case).
    min_prior_dmts_rapidly_evolving: int | None = None
    max_courses: int | None = None
    first_course_infusions: int = 5
    later_course_infusions: int = 3
    course_interval_months: int = 12
    monitoring_months: int = 48
    dose_mg: float = 12.0
    max_dose_mg: float = 100.0
    min_infusion_minutes: int = 240
    max_dilution_to_start_minutes: int = 480
    methylprednisolone_mg: float = 1000.0
    corticosteroid_days: int = 3
    prophylaxis_start_days: int = 1
    min_observation_minutes: int = 120
    contraception_months: int = 4
    herpes_prophylaxis_months: int = 2
    herpes_prophylaxis_needs_cd4: bool = True  # US: later of E_n + 2 months and CD4 >= 200; EU: E_n + 1 month
    cd4_threshold: float = 200.0
    course_due_soon_days: int = 30
    milestone_catch_up_days: int = 30
    milestone_chains: tuple[tuple[str, ...], ...] = (("course_2_due_soon", "course_2_due"),)
    reminders: tuple[ReminderRule, ...] = ()
    reminder_title: str = "Reminder"
    """The push's title: neutral, as the drug's name would tell the lock screen's reader the condition."""
    _sources: dict[str, Rule] = field(init=False, repr=False, compare=False, hash=False)
    _analytes: dict[str, AnalyteSpec] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sources", {rule.code: rule for rule in self.rules})
        object.__setattr__(self, "_analytes", {spec.code: spec for spec in self.analytes})
        if self.lead_days < 0 or self.grace_days < 0 or self.lead_days + self.grace_days >= 28:
            # Keeps due, overdue and missed disjoint for a monthly item (a month has at least 28 days).
            raise ValueError("lead_days + grace_days must stay below 28")

    def rule(self, code: str) -> Rule:
        return self._sources[code]

    def source(self, code: str) -> str:
        rule = self._sources.get(code)
        return rule.source if rule is not None else ENGINE

    def severity(self, code: str) -> Severity:
        severity = self._sources[code].severity
        if severity is None:
            raise KeyError(code)
        return severity

    def analyte(self, code: str) -> AnalyteSpec | None:
        return self._analytes.get(code)

    def infusions_required(self, course: int) -> int:
        return self.first_course_infusions if course == 1 else self.later_course_infusions


_MONTHLY = "every month from T0 + 1 month until 48 months after the last infusion"

US_MONITORING: tuple[MonitoringItem, ...] = (
    # LOINC order codes (docs/INTEROP.md "Care plan out" says where each was checked); skin_exam and hpv_screening
    # have none here: the export codes them in urn:lemtrada:item only.
    MonitoringItem(
        ResultItem.CBC, "complete blood count with differential", 1, 1, Audience.ALL, PI_AUTOIMMUNITY, "57021-8"
    ),
    MonitoringItem(ResultItem.CREATININE, "serum creatinine", 1, 1, Audience.ALL, PI_AUTOIMMUNITY, "2160-0"),
    MonitoringItem(
        ResultItem.URINALYSIS, "urinalysis with urine cell counts", 1, 1, Audience.ALL, PI_AUTOIMMUNITY, "24356-8"
    ),
    MonitoringItem(
        ResultItem.LIVER, "serum transaminases and total bilirubin", 1, 1, Audience.ALL, PI_LIVER, "24325-3"
    ),
    MonitoringItem(ResultItem.THYROID, "thyroid function (TSH)", 3, 3, Audience.ALL, PI_THYROID, "3016-3"),
    MonitoringItem(ResultItem.SKIN_EXAM, "skin examination (melanoma)", 12, 12, Audience.ALL, PI_MALIGNANCIES),
    MonitoringItem(ResultItem.HPV_SCREENING, "cervical HPV screening", 12, 12, Audience.FEMALE, PI_INFECTIONS),
)

_BASELINE_LABS = (
    ResultItem.CBC,
    ResultItem.CREATININE,
    ResultItem.URINALYSIS,
    ResultItem.THYROID,
    ResultItem.LIVER,
    ResultItem.URINE_PROTEIN_CREATININE,
)
_PRE_COURSE_LABS = (
    ResultItem.CBC,
    ResultItem.CREATININE,
    ResultItem.URINALYSIS,
    ResultItem.THYROID,
    ResultItem.LIVER,
)

_PREGNANCY = Requirement("pregnancy", Check.NO_PREGNANCY, PI_PREGNANCY)
_INFECTION = Requirement("active_infection", Check.NO_ACTIVE_INFECTION, PI_INFECTIONS)
# An unacknowledged critical safety finding stops every course until a clinician has looked at it (DESIGN 7).
_OPEN_CRITICAL = Requirement("open_critical_finding", Check.NO_OPEN_CRITICAL_FINDING, PI_AUTOIMMUNITY)

US_COURSE_ONE: tuple[Requirement, ...] = (
    Requirement("baseline_labs", Check.RECENT, REMS, items=_BASELINE_LABS, window_days=30),
    Requirement("baseline_skin_exam", Check.RECENT, PI_MALIGNANCIES, items=(ResultItem.SKIN_EXAM,), window_months=12),
    Requirement("immunizations", Check.RECORDED_BEFORE, PI_VACCINES, items=(ResultItem.IMMUNIZATIONS,), lead_days=42),
    Requirement(
        "vzv_status",
        Check.STATUS,
        PI_VACCINES,
        items=(ResultItem.VZV,),
        accepted=(("history", 0), ("vaccinated", 42), ("antibody_positive", 0)),
    ),
    Requirement(
        "tb_screening",
        Check.STATUS,
        PI_INFECTIONS,
        items=(ResultItem.TB_SCREENING,),
        accepted=(("negative", 0), ("treated", 0)),
    ),
    Requirement("listeria_counseling", Check.RECORDED_BEFORE, PI_INFECTIONS, items=(ResultItem.LISTERIA_COUNSELING,)),
    Requirement(
        "fetal_risk_education",
        Check.RECORDED_BEFORE,
        PI_REPRODUCTIVE,
        items=(ResultItem.FETAL_RISK_EDUCATION,),
        who=Audience.FEMALE_REPRODUCTIVE,
    ),
    _PREGNANCY,
    _INFECTION,
    _OPEN_CRITICAL,
)

US_LATER_COURSES: tuple[Requirement, ...] = (
    Requirement("too_early", Check.INTERVAL, PI_DOSAGE, interval_months=12),
    Requirement("pre_course_labs", Check.RECENT, REMS, items=_PRE_COURSE_LABS, window_days=30),
    _PREGNANCY,
    _INFECTION,
    _OPEN_CRITICAL,
)

US_RULES: tuple[Rule, ...] = (
    # 2.2 eligibility
    Rule("not_adult", PI_INDICATIONS, "age on the enrollment date under 18"),
    Rule("cis_not_recommended", PI_INDICATIONS, "not recommended for clinically isolated syndrome"),
    Rule("not_relapsing_ms", PI_INDICATIONS, "indicated for relapsing forms of MS (RRMS, active SPMS) only"),
    Rule("contraindicated_hiv", PI_CONTRAINDICATIONS, "contraindicated with HIV infection"),
    Rule("contraindicated_hypersensitivity", PI_CONTRAINDICATIONS, "known hypersensitivity to alemtuzumab"),
    Rule("insufficient_prior_dmts", PI_INDICATIONS, "reserved for inadequate response to two or more DMTs"),
    Rule("fewer_prior_dmts_than_label", PI_INDICATIONS, "enrolled with fewer prior DMTs, justification given"),
    # 2.3 readiness
    Rule("baseline_labs", REMS, "baseline labs within 30 days before the start"),
    Rule("baseline_skin_exam", PI_MALIGNANCIES, "baseline skin exam within 12 months before the start"),
    Rule("immunizations", PI_VACCINES, "immunizations completed at least 6 weeks before the start"),
    Rule("vzv_status", PI_VACCINES, "VZV status known (history, vaccinated 6 weeks before, antibody positive)"),
    Rule("tb_screening", PI_INFECTIONS, "TB screening negative (or treated) before the start"),
    Rule("listeria_counseling", PI_INFECTIONS, "Listeria avoidance counseling before the start"),
    Rule("fetal_risk_education", PI_REPRODUCTIVE, "fetal risk education before the start"),
    Rule("pregnancy", PI_PREGNANCY, "no treatment during pregnancy", Severity.CRITICAL),
    Rule("active_infection", PI_INFECTIONS, "no start while an active infection is flagged"),
    Rule("too_early", PI_DOSAGE, "at least 12 months since the last dose of any previous course"),
    Rule("pre_course_labs", REMS, "labs within 30 days before a further course"),
    Rule("open_critical_finding", PI_AUTOIMMUNITY, "no course while a critical finding is unacknowledged"),
    # 2.4 infusions
    Rule("date_in_future", ENGINE, "an infusion cannot be dated after the clinic's today"),
    Rule("dose_out_of_range", ENGINE, "dose must be above 0 and at most 100 mg"),
    Rule("ended_not_after_started", ENGINE, "an infusion ends after it starts"),
    Rule("started_before_diluted", ENGINE, "an infusion starts after its dilution"),
    Rule("invalid_course", ENGINE, "an explicit course continues the current course or starts the next one"),
    Rule("naive_datetime", ENGINE, "infusion times carry a UTC offset"),
    Rule("observation_out_of_range", ENGINE, "observation minutes cannot be negative"),
    Rule("premedication_out_of_range", ENGINE, "methylprednisolone mg cannot be negative"),
    Rule("iv_push_or_bolus", PI_ADMINISTRATION, "never as IV push or bolus", Severity.CRITICAL),
    Rule("course_too_early", PI_DOSAGE, "course n >= 2 before E_(n-1) + 12 months", Severity.CRITICAL),
    Rule("started_with_blockers", REMS, "course started while readiness blockers stood", Severity.CRITICAL),
    Rule("co_infusion", PI_ADMINISTRATION, "no other drug through the same line", Severity.MAJOR),
    Rule("dose_not_12mg", PI_DOSAGE, "12 mg per day", Severity.MAJOR),
    Rule("infusion_under_4h", PI_DOSAGE, "infused over 4 hours", Severity.MAJOR),
    Rule("started_over_8h_after_dilution", PI_ADMINISTRATION, "used within 8 hours of dilution", Severity.MAJOR),
    Rule(
        "infused_with_active_infection",
        PI_INFECTIONS,
        "no infusion while an active infection is flagged (checked on every infusion day)",
        Severity.CRITICAL,
    ),
    Rule(
        "no_corticosteroid_premedication",
        PI_PREMEDICATION,
        "methylprednisolone 1000 mg (or the methylprednisolone-equivalent dose) on the first 3 days of a course",
        Severity.MINOR,
    ),
    Rule("no_herpes_prophylaxis", PI_PREMEDICATION, "antiviral prophylaxis from day 1", Severity.MINOR),
    Rule("observation_under_2h", PI_INFUSION_REACTIONS, "observe for 2 hours after infusion", Severity.MINOR),
    Rule("course_interrupted", PI_DOSAGE, "infusions of a course on consecutive days", Severity.MINOR),
    Rule("no_batch_number", PI_ADMINISTRATION, "batch number recorded for traceability", Severity.MINOR),
    # 2.5 schedule and milestones
    Rule("course_2_due_soon", PI_DOSAGE, "course 2 is due in 30 days (12 months after course 1)"),
    Rule("course_2_due", PI_DOSAGE, "course 2 is due (12 months after course 1)"),
    Rule("next_course_eligible", PI_DOSAGE, "12 months since the course: a further course may be given"),
    Rule("contraception_window_ends", PI_REPRODUCTIVE, "contraception for 4 months after a course"),
    Rule("herpes_prophylaxis_may_stop", PI_PREMEDICATION, "2 months after a course and CD4 >= 200 cells/uL"),
    Rule("monitoring_complete", PI_MONITORING, "48 months of monitoring after the last infusion are over"),
    *(Rule(m.item.value, m.source, m.what) for m in US_MONITORING),
)

# DESIGN 7: analytes (canonical UCUM unit first in ``units``) and the default reference limits.
_X1_CELLS = (("10*9/L", 1.0), ("10*3/uL", 1.0))
US_ANALYTES: tuple[AnalyteSpec, ...] = (
    AnalyteSpec("platelets", ResultItem.CBC, "10*9/L", (*_X1_CELLS, ("/nL", 1.0)), ("777-3",), default_low=150.0),
    AnalyteSpec("neutrophils", ResultItem.CBC, "10*9/L", _X1_CELLS, ("751-8",)),
    AnalyteSpec("lymphocytes", ResultItem.CBC, "10*9/L", _X1_CELLS, ("731-0",)),
    AnalyteSpec("wbc", ResultItem.CBC, "10*9/L", _X1_CELLS, ("6690-2",)),
    AnalyteSpec("hemoglobin", ResultItem.CBC, "g/L", (("g/L", 1.0), ("g/dL", 10.0)), ("718-7",)),
    AnalyteSpec(
        "creatinine",
        ResultItem.CREATININE,
        "umol/L",
        (("umol/L", 1.0), ("mg/dL", 88.42)),
        ("14682-9", "2160-0"),
        unit_loinc=(("mg/dL", "2160-0"),),
    ),
    AnalyteSpec("urine_rbc", ResultItem.URINALYSIS, "/[HPF]", (("/[HPF]", 1.0),), ("13945-1",)),
    AnalyteSpec("urine_protein", ResultItem.URINALYSIS, "mg/dL", (("mg/dL", 1.0),), ("2888-6",)),
    AnalyteSpec(
        "tsh",
        ResultItem.THYROID,
        "m[IU]/L",
        (("m[IU]/L", 1.0), ("u[IU]/mL", 1.0)),
        ("3016-3",),
        default_low=0.4,
        default_high=4.0,
    ),
    AnalyteSpec(
        "free_t4",
        ResultItem.THYROID,
        "pmol/L",
        (("pmol/L", 1.0), ("ng/dL", 12.87)),
        ("14920-3", "3024-7"),
        unit_loinc=(("ng/dL", "3024-7"),),
    ),
    AnalyteSpec("alt", ResultItem.LIVER, "U/L", (("U/L", 1.0), ("[IU]/L", 1.0)), ("1742-6",), default_high=40.0),
    AnalyteSpec("ast", ResultItem.LIVER, "U/L", (("U/L", 1.0), ("[IU]/L", 1.0)), ("1920-8",), default_high=40.0),
    AnalyteSpec(
        "bilirubin_total",
        ResultItem.LIVER,
        "umol/L",
        (("umol/L", 1.0), ("mg/dL", 17.1)),
        ("14631-6", "1975-2"),
        default_high=21.0,
        unit_loinc=(("mg/dL", "1975-2"),),
    ),
    AnalyteSpec("upcr", ResultItem.URINE_PROTEIN_CREATININE, "mg/g", (("mg/g", 1.0), ("mg/mmol", 8.84)), ("2890-2",)),
    AnalyteSpec("cd4", ResultItem.CD4, "/uL", (("/uL", 1.0), ("10*6/L", 1.0), ("cells/uL", 1.0)), ("24467-3",)),
)

# DESIGN 7: safety findings (code, severity, source, rule in words); the numbers are FindingThresholds.
US_FINDING_RULES: tuple[Rule, ...] = (
    Rule("platelets_below_100", f"{PI_ITP}; {IWG_ITP}", "platelets < 100 x10^9/L", Severity.CRITICAL),
    Rule("platelets_below_range", PI_ITP, "100 <= platelets < low (default 150 x10^9/L)", Severity.MAJOR),
    Rule(
        "platelets_halved",
        PI_ITP,
        "platelets >= 100 but <= 50% of the previous platelets value (latest dated before)",
        Severity.MAJOR,
    ),
    Rule("neutrophils_below_0_5", PI_CYTOPENIAS, "neutrophils < 0.5 x10^9/L", Severity.CRITICAL),
    Rule("neutrophils_below_1_0", PI_CYTOPENIAS, "0.5 <= neutrophils < 1.0 x10^9/L", Severity.MAJOR),
    Rule(
        "creatinine_rise",
        f"{PI_GLOMERULAR}; {KDIGO_AKI}",
        "creatinine >= 1.5 x baseline (latest dated on or before T0; without one, the first recorded)",
        Severity.MAJOR,
    ),
    Rule("hematuria", PI_GLOMERULAR, "urine_rbc >= 3 /[HPF]", Severity.MAJOR),
    Rule(
        "renal_autoimmunity_suspected",
        PI_GLOMERULAR,
        "creatinine_rise and hematuria on results dated at most 30 days apart (anti-GBM disease)",
        Severity.CRITICAL,
    ),
    Rule("tsh_out_of_range", PI_THYROID, "tsh < low or > high (default 0.4-4.0 m[IU]/L)", Severity.MAJOR),
    Rule("transaminases_above_3x_uln", PI_LIVER, "alt or ast > 3 x high (default 40 U/L)", Severity.MAJOR),
    Rule(
        "hys_law",
        f"{PI_LIVER}; {FDA_DILI}",
        "alt or ast > 3 x high and bilirubin_total > 2 x high (default 21 umol/L) on the same date",
        Severity.CRITICAL,
    ),
)

US_REMINDERS = (
    ReminderRule("infusion_warning", "Important safety information after your treatment. Open the app.", PI_STROKE, 2),
    ReminderRule("overdue", "Your monitoring tests due on {date} are overdue. Open the app.", PI_MONITORING),
    ReminderRule("due", "You have monitoring tests due by {date}. Open the app.", PI_MONITORING),
    ReminderRule("monitoring_complete", "Your monitoring schedule is complete. Open the app.", ENGINE, 30),
)
"""In the order the lock screen prefers when several are owed on one day (one push per patient and date)."""

US_PROTOCOL = Protocol(
    label=Label.US,
    monitoring=US_MONITORING,
    course_one_requirements=US_COURSE_ONE,
    later_course_requirements=US_LATER_COURSES,
    rules=(*US_RULES, *US_FINDING_RULES),
    analytes=US_ANALYTES,
    reminders=US_REMINDERS,
)

# The SmPC sections the EU variant cites for the same rules.
_SMPC_BY_US: dict[str, str] = {
    PI_INDICATIONS: "EU SmPC 4.1 (Therapeutic indications)",
    PI_DOSAGE: "EU SmPC 4.2 (Posology and method of administration)",
    PI_BEFORE: "EU SmPC 4.4 (Special warnings and precautions for use)",
    PI_PREMEDICATION: "EU SmPC 4.2 (Posology and method of administration)",
    PI_MONITORING: "EU SmPC 4.4 (Special warnings and precautions for use)",
    PI_ADMINISTRATION: "EU SmPC 6.6 (Special precautions for disposal and other handling)",
    PI_CONTRAINDICATIONS: "EU SmPC 4.3 (Contraindications)",
    PI_AUTOIMMUNITY: "EU SmPC 4.4 (Special warnings and precautions for use: autoimmunity)",
    PI_ITP: "EU SmPC 4.4 (Special warnings and precautions for use: immune thrombocytopenia)",
    PI_GLOMERULAR: "EU SmPC 4.4 (Special warnings and precautions for use: nephropathies including anti-GBM disease)",
    PI_THYROID: "EU SmPC 4.4 (Special warnings and precautions for use: thyroid disorders)",
    PI_CYTOPENIAS: "EU SmPC 4.4 (Special warnings and precautions for use: cytopenias)",
    PI_STROKE: "EU SmPC 4.4 (Special warnings and precautions for use: stroke and arterial dissection)",
    PI_INFUSION_REACTIONS: "EU SmPC 4.4 (Special warnings and precautions for use)",
    PI_MALIGNANCIES: "EU SmPC 4.4 (Special warnings and precautions for use)",
    PI_LIVER: "EU SmPC 4.4 (Special warnings and precautions for use: autoimmune hepatitis)",
    PI_INFECTIONS: "EU SmPC 4.4 (Special warnings and precautions for use: infections)",
    PI_PREGNANCY: "EU SmPC 4.6 (Fertility, pregnancy and lactation)",
    PI_REPRODUCTIVE: "EU SmPC 4.6 (Fertility, pregnancy and lactation)",
    REMS: "EU SmPC 4.4 and the EU risk management plan (educational materials)",
}
_SMPC_COURSE_LIMIT = "EU SmPC 4.2 (Posology: up to 2 additional courses after the initial 2)"


def _eu(source: str) -> str:
    """The SmPC section for a US source; a compound source ("label; guideline") maps part by part."""
    return "; ".join(_SMPC_BY_US.get(part, part) for part in source.split("; "))


_EU_OVERRIDES: dict[str, Rule] = {
    "not_relapsing_ms": Rule(
        "not_relapsing_ms", _SMPC_BY_US[PI_INDICATIONS], "indicated for relapsing-remitting MS only"
    ),
    "insufficient_prior_dmts": Rule(
        "insufficient_prior_dmts",
        _SMPC_BY_US[PI_INDICATIONS],
        "highly active despite at least one DMT, or rapidly evolving severe MS",
    ),
    "herpes_prophylaxis_may_stop": Rule(
        "herpes_prophylaxis_may_stop", _SMPC_BY_US[PI_PREMEDICATION], "1 month after a course"
    ),
}


def _eu_requirements(requirements: tuple[Requirement, ...]) -> tuple[Requirement, ...]:
    return tuple(replace(req, source=_eu(req.source)) for req in requirements)


EU_PROTOCOL = Protocol(
    label=Label.EU,
    monitoring=tuple(replace(m, source=_eu(m.source)) for m in US_MONITORING),
    course_one_requirements=_eu_requirements(US_COURSE_ONE),
    later_course_requirements=(
        *_eu_requirements(US_LATER_COURSES),
        Requirement("max_courses", Check.COURSE_LIMIT, _SMPC_COURSE_LIMIT),
    ),
    rules=(
        *(_EU_OVERRIDES.get(rule.code) or replace(rule, source=_eu(rule.source)) for rule in US_RULES),
        *(replace(rule, source=_eu(rule.source)) for rule in US_FINDING_RULES),
        Rule("max_courses", _SMPC_COURSE_LIMIT, "at most 4 courses"),
        Rule("exceeds_max_courses", _SMPC_COURSE_LIMIT, "course 5 or later", Severity.CRITICAL),
    ),
    analytes=US_ANALYTES,
    relapsing_diagnoses=frozenset({Diagnosis.RELAPSING_REMITTING}),
    min_prior_dmts=1,
    min_prior_dmts_rapidly_evolving=0,
    max_courses=4,
    herpes_prophylaxis_months=1,
    herpes_prophylaxis_needs_cd4=False,
    reminders=tuple(replace(r, source=_eu(r.source)) for r in US_REMINDERS),
)

_BY_LABEL = {Label.US: US_PROTOCOL, Label.EU: EU_PROTOCOL}


def protocol_for(label: Label) -> Protocol:
    return _BY_LABEL[Label(label)]
