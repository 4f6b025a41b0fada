"""First sweep after enrolling a clinic's patients with their history (DESIGN 8): history items sent, goal 0.

``--patients`` realistic histories from ``bench/synthetic.py`` (1 to 4 courses over the six years before the day,
monitoring results mostly on time, some late or missing), each given analytes so that findings arise: a normal cbc
mostly, now and then platelets at 15 (critical) at any date, and for some patients a critical cbc within the 30
days before enrollment. Each is enrolled through the real enrollment service (``POST /patients`` with
``history``: validation, replay in date order, one write) on the in-memory twins; then the real sweep runs once
for the enrollment date. Every digest item and alert is judged against the regimen's history predicates.

    .venv/bin/python -m bench.onboarding [--patients 500]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_ROOT = Path(__file__).resolve().parent.parent
for _path in (str(_ROOT / "layers" / "core"), str(_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from lemtrada.regimen import build_schedule, notices_due  # noqa: E402
from lemtrada.regimen.history import is_history  # noqa: E402
from lemtrada.regimen.protocol import US_PROTOCOL  # noqa: E402
from lemtrada.regimen.records import (  # noqa: E402
    Analyte,
    Clinic,
    InfusionRequest,
    Label,
    PatientRecord,
    Result,
    ResultItem,
)
from lemtrada.services.actor import Actor, Role  # noqa: E402
from lemtrada.services.onboarding import HistoryInput  # noqa: E402
from lemtrada.services.patients import EnrollmentInput, Patients  # noqa: E402
from lemtrada.services.recording import ResultInput  # noqa: E402
from lemtrada.services.sweep import SweepService, run_in_process  # noqa: E402
from lemtrada.storage.ports import AuditEntry, StoredPatient  # noqa: E402

from bench.synthetic import synthetic_records  # noqa: E402
from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository  # noqa: E402

DAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CLINIC = "c-onboarding"
ACTOR = Actor(sub="bench-clinician", groups=frozenset({Role.CLINICIANS}), clinic_id=CLINIC)


@dataclass(frozen=True)
class Onboarding:
    patients: int
    enroll_ms_p50: float
    enroll_ms_max: float
    results: int
    infusions: int
    history_findings: int  # stored acknowledged with action ``history``
    alerts: int
    history_alerts: int
    items: int  # digest items of the first sweep
    history_items: int  # of them, history (goal 0)
    without_rule: int  # what the first digest would hold if nothing were history

    def row(self) -> str:
        return (
            f"{self.patients:>8,} {self.results:>8,} {self.infusions:>9,} {self.enroll_ms_p50:>8.1f}"
            f" {self.enroll_ms_max:>8.1f} | {self.history_findings:>9,} {self.alerts:>6} {self.history_alerts:>8}"
            f" | {self.without_rule:>12,} {self.items:>6,} {self.history_items:>13}"
        )


HEADER = (
    f"{'enrolled':>8} {'results':>8} {'infusions':>9} {'p50 ms':>8} {'max ms':>8} | {'hist ack':>9} {'alerts':>6}"
    f" {'hist alr':>8} | {'without rule':>12} {'items':>6} {'history items':>13}"
)


def _analytes(result: Result, rng: random.Random) -> tuple[Analyte, ...]:
    if result.item == ResultItem.CBC:
        platelets = 15.0 if rng.random() < 0.02 else float(rng.randint(170, 380))
        return (Analyte("platelets", platelets, "10*9/L", 150, 400), Analyte("hemoglobin", 13.4, "g/dL"))
    if result.item == ResultItem.CREATININE:
        return (Analyte("creatinine", float(rng.randint(60, 90)), "umol/L"),)
    if result.item == ResultItem.THYROID:
        return (Analyte("tsh", 1.8, "m[IU]/L"),)
    return ()


def _history(record: PatientRecord, rng: random.Random) -> HistoryInput:
    """The synthetic record as the enrollment route takes it (course given on every infusion, as a clinic's
    export would), plus a critical cbc within the 30 days before enrollment for one patient in five."""
    results = [
        ResultInput(
            item=r.item,
            date=r.date,
            value=r.value,
            unit="cells/uL" if r.item == ResultItem.CD4 else r.unit,
            status=r.status,
            analytes=_analytes(r, rng),
        )
        for r in record.results
    ]
    if rng.random() < 0.2:
        day = DAY - timedelta(days=rng.randint(0, 29))
        results.append(ResultInput(ResultItem.CBC, day, analytes=(Analyte("platelets", 20.0, "10*9/L"),)))
    infusions = tuple(
        InfusionRequest(
            date=i.date,
            dose_mg=i.dose_mg,
            diluted_at=i.diluted_at,
            started_at=i.started_at,
            ended_at=i.ended_at,
            route=i.route,
            co_infused=i.co_infused,
            methylprednisolone_mg=i.methylprednisolone_mg,
            antiviral_prophylaxis=i.antiviral_prophylaxis,
            observation_minutes=i.observation_minutes,
            batch_number=i.batch_number,
            course=i.course,
        )
        for i in record.infusions
    )
    return HistoryInput(infusions=infusions, results=tuple(results))


def _enrollment(record: PatientRecord) -> EnrollmentInput:
    e = record.profile.enrollment
    return EnrollmentInput(
        birth_date=e.birth_date,
        sex=e.sex,
        reproductive_potential=e.reproductive_potential,
        diagnosis=e.diagnosis,
        prior_dmt_count=e.prior_dmt_count,
        contraindications=e.contraindications,
    )


def _history_item(item: dict[str, Any], stored: StoredPatient) -> bool:
    """Whether a digest item is history for its patient (the regimen's predicates, from the stored record)."""
    enrolled_on = stored.record.profile.enrollment.enrolled_on
    when = date.fromisoformat(item["date"]) if "date" in item else None
    match item["kind"]:
        case "occurrence":
            schedule = build_schedule(stored.record, DAY, US_PROTOCOL)
            ends = {(o.item.value, o.k): o.period_ends for o in schedule.occurrences}
            return ends[(item["code"], item["k"])] <= enrolled_on
        case "milestone":
            return when is not None and when < enrolled_on
        case _:
            return when is not None and is_history(when, enrolled_on)


def run(patients: int = 500, seed: int = 23) -> Onboarding:
    repository = InMemoryPatientRepository()
    publisher = InMemoryDigestPublisher()
    repository.save_clinic(Clinic(CLINIC, "Bench onboarding", "UTC", Label.US), None, _audit())
    enroll = Patients(repository, lambda: NOW, publisher)
    rng = random.Random(seed)
    timings: list[float] = []
    ids: list[str] = []
    results = infusions = without_rule = 0
    for raw in synthetic_records(patients, seed, DAY):
        history = _history(raw, rng)
        started = time.perf_counter()
        view = enroll.enroll(ACTOR, _enrollment(raw), history)
        timings.append((time.perf_counter() - started) * 1000)
        ids.append(view.patient_id)
        results += len(history.results)
        infusions += len(history.infusions)
    stored = {pid: repository.get_patient(pid) for pid in ids}
    alerts = [m for m in publisher.sent if m.attributes.get("kind") == "alert"]
    history_alerts = 0
    for message in alerts:
        patient = stored[message.digest["patient_id"]]
        assert patient is not None
        history_alerts += _history_item({**message.digest, "kind": "finding"}, patient)
    for patient in stored.values():
        assert patient is not None
        record = patient.record
        first = min([r.date for r in record.results] + [i.date for i in record.infusions], default=DAY)
        naive = replace(record.profile, enrollment=replace(record.profile.enrollment, enrolled_on=first))
        unsettled = PatientRecord(naive, record.infusions, tuple(_unacknowledged(r) for r in record.results))
        without_rule += len(notices_due(unsettled, DAY, frozenset(), US_PROTOCOL))
    sweep = SweepService(repository, InMemoryOutbox(repository), publisher)
    before = len(publisher.sent)
    run_in_process(sweep, {"date": DAY.isoformat()})
    digests = [m for m in publisher.sent[before:] if m.attributes.get("kind") == "digest"]
    items = [item for m in digests for item in m.digest["items"]]
    history_items = 0
    for item in items:
        patient = stored[item["patient_id"]]
        assert patient is not None
        history_items += _history_item(item, patient)
    timings.sort()
    return Onboarding(
        patients=len(ids),
        enroll_ms_p50=timings[len(timings) // 2],
        enroll_ms_max=timings[-1],
        results=results,
        infusions=infusions,
        history_findings=sum(
            1 for p in stored.values() if p is not None for a in p.acknowledgements if a.action == "history"
        ),
        alerts=len(alerts),
        history_alerts=history_alerts,
        items=len(items),
        history_items=history_items,
        without_rule=without_rule,
    )


def _unacknowledged(result: Result) -> Result:
    return replace(result, findings=tuple(replace(f, acknowledged=False) for f in result.findings))


def _audit() -> AuditEntry:
    return AuditEntry("bench", "admins", NOW, "clinic.saved", "CLINIC")


def table(measured: Onboarding) -> str:
    return "\n".join([HEADER, measured.row()])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=500)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    measured = run(args.patients)
    print(table(measured))
    print(f"history items sent: {measured.history_items} (goal 0); history alerts: {measured.history_alerts}")
    print(f"run time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
