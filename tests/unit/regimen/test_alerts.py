"""Which stored facts owe an alert: every critical finding and deviation, never history (DESIGN 7, 8)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from lemtrada.regimen.alerts import deviation_alerts, finding_alerts
from lemtrada.regimen.history import is_history
from lemtrada.regimen.records import Deviation, Infusion, InfusionRoute, LabFinding, Severity

ENROLLED = date(2026, 11, 1)


def finding(day: date, severity: Severity = Severity.CRITICAL, code: str = "platelets_below_100") -> LabFinding:
    return LabFinding(f"r1:{code}", "r1", day, code, severity, "platelets 15 x10^9/L < 100", "US PI")


def infusion(day: date, *deviations: Deviation) -> Infusion:
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return Infusion(day, 12.0, at, at, at, InfusionRoute.IV_INFUSION, False, 1000.0, True, 1, 1, deviations=deviations)


def test_history_is_more_than_30_days_before_enrollment() -> None:
    assert is_history(date(2026, 10, 1), ENROLLED)  # 31 days before
    assert not is_history(date(2026, 10, 2), ENROLLED)  # exactly 30 days before: current
    assert not is_history(ENROLLED, ENROLLED)
    assert not is_history(date(2026, 12, 1), ENROLLED)


def test_only_current_critical_findings_owe_an_alert() -> None:
    alerts = finding_alerts(
        "c1",
        "p1",
        ENROLLED,
        [
            finding(date(2026, 11, 20)),
            finding(date(2026, 11, 20), Severity.MAJOR, "platelets_below_range"),
            finding(date(2026, 9, 1), code="neutrophils_below_0_5"),  # history
        ],
    )
    assert [(a.code, a.kind, a.ref, a.clinic_id, a.patient_id) for a in alerts] == [
        ("platelets_below_100", "finding", "r1:platelets_below_100", "c1", "p1")
    ]


def test_critical_deviations_of_a_current_infusion_owe_an_alert_each() -> None:
    critical = Deviation("infused_with_active_infection", Severity.CRITICAL, "active infection")
    major = Deviation("dose_off", Severity.MAJOR)
    alerts = deviation_alerts("c1", "p1", ENROLLED, infusion(date(2026, 11, 20), critical, major))
    assert [(a.code, a.ref, a.finding_id) for a in alerts] == [
        ("infused_with_active_infection", "2026-11-20:infused_with_active_infection", None)
    ]
    assert deviation_alerts("c1", "p1", ENROLLED, infusion(date(2026, 9, 1), critical)) == ()
