"""Enrolling with history in the service (DESIGN 8), on the in-memory twins: one write or nothing, the replay in
date order, history findings settled, current critical ones alerted once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from lemtrada.regimen.records import Analyte, ResultItem
from lemtrada.services.errors import ValidationFailed
from lemtrada.services.onboarding import HistoryInput
from lemtrada.services.patients import Patients
from lemtrada.services.recording import ResultInput

from tests.support.memory import InMemoryDigestPublisher, InMemoryPatientRepository
from tests.support.records import infusion_request
from tests.unit.services.test_use_cases import CLINICIAN, NOW, _enrollment, repo

__all__ = ["repo"]  # the clinic fixture

TODAY = date(2026, 11, 24)


def _cbc(day: date, platelets: float) -> ResultInput:
    return ResultInput(ResultItem.CBC, day, analytes=(Analyte("platelets", platelets, "10*9/L"),))


def test_a_history_too_large_for_one_write_is_refused_before_anything_is_stored(
    repo: InMemoryPatientRepository,
) -> None:
    """One result in each of 100 years: 100 year items, more than a transaction holds."""
    results = tuple(ResultInput(ResultItem.SKIN_EXAM, date(1926 + n, 6, 1)) for n in range(100))
    with pytest.raises(ValidationFailed) as refused:
        Patients(repo, lambda: NOW).enroll(CLINICIAN, _enrollment(), HistoryInput(results=results))
    assert refused.value.code == "history_too_large"
    assert [v.field for v in refused.value.violations] == ["history"]
    assert repo.list_clinic_patients("c1", 10).patients == ()


def test_only_current_critical_findings_are_alerted_and_history_is_acknowledged(
    repo: InMemoryPatientRepository,
) -> None:
    publisher = InMemoryDigestPublisher()
    old, edge, recent = TODAY - timedelta(days=31), TODAY - timedelta(days=30), TODAY - timedelta(days=2)
    history = HistoryInput(results=(_cbc(old, 15), _cbc(edge, 18), _cbc(recent, 22)))
    view = Patients(repo, lambda: NOW, publisher).enroll(CLINICIAN, _enrollment(patient_sub=None), history)
    assert [f.date for f in view.open_findings] == [edge, recent]
    assert [(a.action, a.by) for a in view.acknowledgements] == [("history", "system:history")]
    alerted = sorted(m.digest["date"] for m in publisher.sent)
    assert alerted == [edge.isoformat(), recent.isoformat()]
    assert repo.owed_alerts("c1") == ()  # published, then forgotten


def test_same_day_labs_come_before_the_infusion_in_the_replay(repo: InMemoryPatientRepository) -> None:
    """Course 1 started with its labs drawn that morning: readiness at the infusion sees them, in either order of
    the body; the same history with the labs a day later shows the blocker as a deviation."""
    start = date(2025, 3, 3)
    labs = tuple(
        ResultInput(item, start)
        for item in (
            ResultItem.CBC,
            ResultItem.CREATININE,
            ResultItem.URINALYSIS,
            ResultItem.THYROID,
            ResultItem.LIVER,
            ResultItem.URINE_PROTEIN_CREATININE,
        )
    )
    infusion = (infusion_request(start),)
    patients = Patients(repo, lambda: NOW)
    same_day = patients.enroll(CLINICIAN, _enrollment(patient_sub=None), HistoryInput(infusion, labs))
    later = tuple(ResultInput(r.item, start + timedelta(days=1)) for r in labs)
    next_day = patients.enroll(CLINICIAN, _enrollment(patient_sub=None), HistoryInput(infusion, later))

    def blockers(view: object) -> str:
        (course,) = view.courses  # type: ignore[attr-defined]
        deviations = {d.code: d.detail for d in course.infusions[0].deviations}
        return str(deviations.get("started_with_blockers", ""))

    assert "baseline_labs" not in blockers(same_day)
    assert "baseline_labs" in blockers(next_day)
