"""Findings and acknowledgements through the real use cases and the sweep on the in-memory twins (DESIGN 7):
a finding is owed once at its severity and heads the e-mail; what a clinician acknowledged is not owed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from lemtrada.regimen.records import Analyte, Diagnosis, Label, ResultItem, Sex
from lemtrada.services.acknowledgements import AcknowledgementInput, Acknowledging
from lemtrada.services.actor import Actor, Role
from lemtrada.services.clinics import Clinics
from lemtrada.services.patients import EnrollmentInput, Patients
from lemtrada.services.reading import Reading
from lemtrada.services.recording import Recording, ResultInput
from lemtrada.services.sweep import SweepService, run_in_process

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.support.records import infusion_request

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin-1", frozenset({Role.ADMINS}))
CLINICIAN = Actor("clin-1", frozenset({Role.CLINICIANS}), "c1")


class World:
    def __init__(self) -> None:
        self.repo = InMemoryPatientRepository(due_shards=4)
        self.outbox = InMemoryOutbox(self.repo)
        self.publisher = InMemoryDigestPublisher()
        self.sweep = SweepService(self.repo, self.outbox, self.publisher)
        clock = lambda: NOW  # noqa: E731
        Clinics(self.repo, clock).put_clinic(ADMIN, "c1", name="Clinic", timezone="Europe/Paris", label=Label.US)
        self.patients = Patients(self.repo, clock)
        self.recording = Recording(self.repo, clock)
        self.acks = Acknowledging(self.repo, clock)
        self.reading = Reading(self.repo, clock)

    def enroll(self) -> str:
        data = EnrollmentInput(
            birth_date=date(1985, 5, 1),
            sex=Sex.MALE,
            reproductive_potential=False,
            diagnosis=Diagnosis.RELAPSING_REMITTING,
            prior_dmt_count=2,
            contraindications=frozenset(),
        )
        return self.patients.enroll(CLINICIAN, data).patient_id

    def result(self, pid: str, item: ResultItem, day: date, *analytes: Analyte) -> Any:
        return self.recording.record_result(CLINICIAN, pid, ResultInput(item=item, date=day, analytes=analytes))

    def ack(self, pid: str, kind: str, ref: str) -> None:
        self.acks.acknowledge(CLINICIAN, pid, AcknowledgementInput(kind=kind, ref=ref, action="reviewed"))

    def run(self, day: date) -> list[dict[str, Any]]:
        """Items delivered by the sweep of ``day``."""
        before = len(self.publisher.sent)
        run_in_process(self.sweep, {"date": day.isoformat()})
        digests = [sent for sent in self.publisher.sent[before:] if sent.attributes["kind"] == "digest"]
        return [item for sent in digests for item in sent.digest["items"]]


@pytest.fixture
def world() -> World:
    return World()


def test_a_finding_is_sent_once_at_its_severity_and_heads_the_email(world: World) -> None:
    pid = world.enroll()
    low = world.result(pid, ResultItem.CBC, date(2026, 11, 20), Analyte("platelets", 15, "10*9/L"))
    thyroid = world.result(pid, ResultItem.THYROID, date(2026, 11, 20), Analyte("tsh", 9.5, "m[IU]/L"))
    first = world.run(date(2026, 11, 24))
    findings = [item for item in first if item["kind"] == "finding"]
    assert findings == [
        {
            "patient_id": pid,
            "kind": "finding",
            "code": "platelets_below_100",
            "date": "2026-11-20",
            "severity": "critical",
            "finding_id": low.findings[0].finding_id,
            "alerted": True,  # the digest still lists it, marked as already alerted (DESIGN 7)
        },
        {
            "patient_id": pid,
            "kind": "finding",
            "code": "tsh_out_of_range",
            "date": "2026-11-20",
            "severity": "major",
            "finding_id": thyroid.findings[0].finding_id,
        },
    ]
    email = world.publisher.sent[-1].email
    lines = [line for line in email.splitlines() if line.startswith("- ")]
    assert lines[0].startswith(f"- patient {pid}: CRITICAL platelets_below_100 (2026-11-20); MAJOR tsh_out_of_range")
    assert email.index("CRITICAL") < email.index("platelets_below_100") < email.index("MAJOR")
    assert world.run(date(2026, 11, 24)) == []  # a re-run of the date sends nothing
    later = world.run(date(2026, 11, 25)) + world.run(date(2026, 12, 5))
    assert [i for i in later if i["kind"] == "finding"] == []


def test_an_acknowledged_finding_is_not_owed_and_stops_blocking(world: World) -> None:
    pid = world.enroll()
    low = world.result(pid, ResultItem.CBC, date(2026, 11, 20), Analyte("platelets", 15, "10*9/L"))
    blocked = world.reading.readiness(CLINICIAN, pid, date(2026, 12, 1))
    assert "open_critical_finding" in [b.code for b in blocked.blockers]
    world.ack(pid, "finding", low.findings[0].finding_id)
    assert [i for i in world.run(date(2026, 11, 24)) if i["kind"] == "finding"] == []
    clear = world.reading.readiness(CLINICIAN, pid, date(2026, 12, 1))
    assert "open_critical_finding" not in [b.code for b in clear.blockers]
    assert world.reading.get_patient(CLINICIAN, pid).open_findings == []


def test_an_acknowledged_deviation_is_not_owed(world: World) -> None:
    pid = world.enroll()
    infusion = world.recording.record_infusion(CLINICIAN, pid, replace(infusion_request(date(2026, 11, 23))))
    codes = [d.code for d in infusion.view.deviations]
    assert codes
    for code in codes:
        world.ack(pid, "deviation", f"2026-11-23:{code}")
    assert [i for i in world.run(date(2026, 11, 24)) if i["kind"] == "deviation"] == []


def test_an_acknowledged_occurrence_escalates_no_further(world: World) -> None:
    """One infusion on 2026-10-10; its overdue first cbc is acknowledged on 2026-11-24: never sent as missed."""
    pid = world.enroll()
    world.recording.record_infusion(CLINICIAN, pid, infusion_request(date(2026, 10, 10)))
    schedule = world.reading.schedule(CLINICIAN, pid, date(2026, 11, 24))
    target = next(o for o in schedule.occurrences if o.status == "overdue")
    world.ack(pid, "occurrence", f"{target.item.value}:{target.k}")
    delivered: list[dict[str, Any]] = []
    day = date(2026, 11, 24)
    while day <= date(2027, 2, 28):
        delivered += world.run(day)
        day += timedelta(days=1)
    about = [i for i in delivered if i["kind"] == "occurrence" and (i["code"], i["k"]) == (target.item.value, target.k)]
    assert about == []
    others = [i for i in delivered if i["kind"] == "occurrence"]
    assert others, "other occurrences are still owed"
