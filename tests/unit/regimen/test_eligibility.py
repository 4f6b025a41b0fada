from __future__ import annotations

from typing import Any

import pytest
from lemtrada.regimen import EU_PROTOCOL, US_PROTOCOL, Protocol, check_eligibility, protocol_for
from lemtrada.regimen.records import Contraindication, Diagnosis, Label

from .helpers import D, enrollment


def codes(findings: tuple[Any, ...]) -> list[str]:
    return [f.code for f in findings]


@pytest.mark.parametrize(
    ("changes", "rejected"),
    [
        ({}, []),
        ({"birth_date": D("2005-11-02")}, ["not_adult"]),  # 17 the day before the 18th birthday
        ({"birth_date": D("2005-11-01")}, []),  # 18 on the enrollment date
        ({"diagnosis": Diagnosis.CLINICALLY_ISOLATED_SYNDROME}, ["cis_not_recommended", "not_relapsing_ms"]),
        ({"diagnosis": Diagnosis.PRIMARY_PROGRESSIVE}, ["not_relapsing_ms"]),
        ({"diagnosis": Diagnosis.NON_ACTIVE_SECONDARY_PROGRESSIVE}, ["not_relapsing_ms"]),
        ({"diagnosis": Diagnosis.ACTIVE_SECONDARY_PROGRESSIVE}, []),
        ({"contraindications": frozenset({Contraindication.HIV})}, ["contraindicated_hiv"]),
        (
            {"contraindications": frozenset({Contraindication.HYPERSENSITIVITY})},
            ["contraindicated_hypersensitivity"],
        ),
        ({"prior_dmt_count": 1}, ["insufficient_prior_dmts"]),
        ({"prior_dmt_count": 1, "justification": "   "}, ["insufficient_prior_dmts"]),
        ({"prior_dmt_count": 0, "birth_date": D("2010-01-01")}, ["not_adult", "insufficient_prior_dmts"]),
    ],
)
def test_us_rejections(changes: dict[str, Any], rejected: list[str]) -> None:
    decision = check_eligibility(enrollment(**changes), US_PROTOCOL)
    assert codes(decision.rejections) == rejected
    assert decision.accepted is (not rejected)
    assert all(f.source.startswith("US PI") for f in decision.rejections)


@pytest.mark.parametrize(
    ("protocol", "prior", "justification", "rejected", "warned"),
    [
        (US_PROTOCOL, 1, "failed one DMT, rapidly evolving", [], ["fewer_prior_dmts_than_label"]),
        (US_PROTOCOL, 2, None, [], []),
        (EU_PROTOCOL, 1, None, [], []),
        (EU_PROTOCOL, 0, None, ["insufficient_prior_dmts"], []),
        (EU_PROTOCOL, 0, "highly active disease", [], ["fewer_prior_dmts_than_label"]),
    ],
)
def test_prior_dmts_and_justification(
    protocol: Protocol, prior: int, justification: str | None, rejected: list[str], warned: list[str]
) -> None:
    decision = check_eligibility(enrollment(prior_dmt_count=prior, justification=justification), protocol)
    assert codes(decision.rejections) == rejected
    assert codes(decision.warnings) == warned


def test_eu_findings_cite_the_smpc() -> None:
    decision = check_eligibility(enrollment(prior_dmt_count=0), protocol_for(Label.EU))
    assert decision.rejections[0].source.startswith("EU SmPC")


@pytest.mark.parametrize(
    ("diagnosis", "us", "eu"),
    [
        (Diagnosis.RELAPSING_REMITTING, [], []),
        (Diagnosis.ACTIVE_SECONDARY_PROGRESSIVE, [], ["not_relapsing_ms"]),  # EU SmPC 4.1: RRMS only
        (Diagnosis.NON_ACTIVE_SECONDARY_PROGRESSIVE, ["not_relapsing_ms"], ["not_relapsing_ms"]),
    ],
)
def test_eu_accepts_only_relapsing_remitting(diagnosis: Diagnosis, us: list[str], eu: list[str]) -> None:
    assert codes(check_eligibility(enrollment(diagnosis=diagnosis), US_PROTOCOL).rejections) == us
    decision = check_eligibility(enrollment(diagnosis=diagnosis), EU_PROTOCOL)
    assert codes(decision.rejections) == eu
    if eu:
        assert decision.rejections[0].source == "EU SmPC 4.1 (Therapeutic indications)"
        assert "relapsing_remitting" in decision.rejections[0].detail


@pytest.mark.parametrize(
    ("protocol", "prior", "res", "rejected"),
    [
        (EU_PROTOCOL, 0, True, []),  # rapidly evolving severe: no prior DMT needed
        (EU_PROTOCOL, 0, False, ["insufficient_prior_dmts"]),
        (EU_PROTOCOL, 1, False, []),
        (US_PROTOCOL, 0, True, ["insufficient_prior_dmts"]),  # the US label has no such case
        (US_PROTOCOL, 1, True, ["insufficient_prior_dmts"]),
    ],
)
def test_rapidly_evolving_severe(protocol: Protocol, prior: int, res: bool, rejected: list[str]) -> None:
    decision = check_eligibility(enrollment(prior_dmt_count=prior, rapidly_evolving_severe=res), protocol)
    assert codes(decision.rejections) == rejected
    assert decision.warnings == ()
