"""Enrollment eligibility (DESIGN 2.2): a rejection stores nothing; a warning is stored with the patient."""

from __future__ import annotations

from dataclasses import dataclass

from lemtrada.regimen.dates import age_in_years
from lemtrada.regimen.findings import Finding
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.records import Contraindication, Diagnosis, Enrollment


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    accepted: bool
    rejections: tuple[Finding, ...]
    warnings: tuple[Finding, ...]


_CONTRAINDICATIONS = (
    (Contraindication.HIV, "contraindicated_hiv", "HIV infection is a contraindication"),
    (
        Contraindication.HYPERSENSITIVITY,
        "contraindicated_hypersensitivity",
        "known hypersensitivity to alemtuzumab is a contraindication",
    ),
)


def check_eligibility(enrollment: Enrollment, protocol: Protocol) -> EligibilityDecision:
    """Every rule is evaluated, so a clinician sees all reasons at once rather than one per attempt."""
    rejections: list[Finding] = []
    warnings: list[Finding] = []

    def finding(code: str, detail: str) -> Finding:
        return Finding(code, detail, protocol.source(code))

    age = age_in_years(enrollment.birth_date, enrollment.enrolled_on)
    if age < protocol.min_age_years:
        rejections.append(
            finding("not_adult", f"age {age} on {enrollment.enrolled_on}, under {protocol.min_age_years}")
        )
    if enrollment.diagnosis == Diagnosis.CLINICALLY_ISOLATED_SYNDROME:
        rejections.append(finding("cis_not_recommended", "not recommended for clinically isolated syndrome"))
    if enrollment.diagnosis not in protocol.relapsing_diagnoses:
        rejections.append(
            finding(
                "not_relapsing_ms",
                f"diagnosis {enrollment.diagnosis.value} is not "
                + " or ".join(sorted(d.value for d in protocol.relapsing_diagnoses)),
            )
        )
    for contraindication, code, detail in _CONTRAINDICATIONS:
        if contraindication in enrollment.contraindications:
            rejections.append(finding(code, detail))
    required = protocol.min_prior_dmts
    if enrollment.rapidly_evolving_severe and protocol.min_prior_dmts_rapidly_evolving is not None:
        required = protocol.min_prior_dmts_rapidly_evolving  # EU SmPC 4.1: rapidly evolving severe RRMS
    if enrollment.prior_dmt_count < required:
        justified = bool(enrollment.justification and enrollment.justification.strip())
        counted = f"{enrollment.prior_dmt_count} prior DMT(s), label expects {required} or more"
        if justified:
            warnings.append(finding("fewer_prior_dmts_than_label", f"{counted}; enrolled on justification"))
        else:
            rejections.append(finding("insufficient_prior_dmts", f"{counted}; no justification given"))
    return EligibilityDecision(not rejections, tuple(rejections), tuple(warnings))
