"""Critical alerts at once, exactly once (DESIGN 7), through the real use cases on the in-memory twin and on the
DynamoDB adapter over moto, with a crash injected at each point of the writer's path (commit -> publish ->
forget) and of a drain's (claim -> publish -> forget, or give back): only "after the publish, before the forget"
sends twice, and only once the lease has run out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from lemtrada.notify.publisher import Message
from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Analyte, Diagnosis, InfusionRoute, Label, ResultItem, Sex
from lemtrada.services.actor import Actor, Role
from lemtrada.services.alerts import DRAIN_LEASE, AlertDelivery
from lemtrada.services.clinics import Clinics
from lemtrada.services.patients import EnrollmentInput, Patients
from lemtrada.services.recording import Recording, ResultInput
from lemtrada.services.sweep import SweepService
from lemtrada.storage.alert_items import WRITER_LEASE
from lemtrada.storage.ports import PatientRepository
from lemtrada.storage.repository import DynamoPatientRepository

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.support.records import infusion_request
from tests.unit.storage.tables import moto_regimen_table

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin-1", frozenset({Role.ADMINS}))
CLINICIAN = Actor("clin-1", frozenset({Role.CLINICIANS}), "c1")
LOW = Analyte("platelets", 15, "10*9/L")


class Crash(BaseException):
    """A process dying at the injected point (no ``except Exception`` in the code under test can catch it)."""


class Faulty:
    """A repository that dies at one injected point (else it is the wrapped one)."""

    def __init__(self, inner: PatientRepository) -> None:
        self.inner = inner
        self.crash_on: str | None = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name != self.crash_on:
            return attribute

        def crash(*args: Any, **kwargs: Any) -> Any:
            self.crash_on = None
            raise Crash(name)

        return crash


class CrashingPublisher(InMemoryDigestPublisher):
    """The in-memory publisher whose caller can die inside the next publish, before SNS took the message."""

    crash_next: bool = False

    def publish(self, message: Message) -> str:
        if self.crash_next:
            self.crash_next = False
            raise Crash("publish")
        return super().publish(message)


class World:
    def __init__(self, repo: PatientRepository) -> None:
        self.faulty = Faulty(repo)
        self.repo: PatientRepository = self.faulty
        self.publisher = CrashingPublisher()
        clock = lambda: NOW  # noqa: E731
        Clinics(repo, clock).put_clinic(ADMIN, "c1", name="Clinic", timezone="Europe/Paris", label=Label.US)
        self.recording = Recording(self.repo, clock, self.publisher)
        self.pid = Patients(repo, clock).enroll(CLINICIAN, enrollment()).patient_id
        self.sweep = SweepService(self.repo, InMemoryOutbox(), self.publisher)

    def cbc(self, day: date = date(2026, 11, 20), *analytes: Analyte) -> Any:
        data = ResultInput(item=ResultItem.CBC, date=day, analytes=analytes or (LOW,))
        return self.recording.record_result(CLINICIAN, self.pid, data)

    def alerts(self) -> list[dict[str, Any]]:
        return [sent.digest for sent in self.publisher.sent if sent.attributes["kind"] == "alert"]

    def drain(self, now: datetime) -> int:
        """One pass of a drain (the minute drain's or the sweep's) at ``now``: how many it sent."""
        return len(AlertDelivery(self.repo, self.publisher).drain("c1", now).sent)

    def drain_later(self) -> int:
        """A drain once every lease has run out."""
        return self.drain(NOW + timedelta(minutes=2))


def enrollment() -> EnrollmentInput:
    return EnrollmentInput(
        birth_date=date(1985, 5, 1),
        sex=Sex.MALE,
        reproductive_potential=False,
        diagnosis=Diagnosis.RELAPSING_REMITTING,
        prior_dmt_count=2,
        contraindications=frozenset(),
    )


@pytest.fixture(params=["memory", "moto"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    if request.param == "memory":
        yield World(InMemoryPatientRepository(due_shards=4))
        return
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with moto_regimen_table() as table:
        yield World(DynamoPatientRepository(table, region="us-east-1", due_shards=4))


def test_a_critical_finding_is_alerted_once_before_the_write_returns(world: World) -> None:
    recorded = world.cbc()
    finding_id = recorded.findings[0].finding_id
    assert world.alerts() == [
        {
            "clinic_id": "c1",
            "kind": "alert",
            "patient_id": world.pid,
            "code": "platelets_below_100",
            "severity": "critical",
            "date": "2026-11-20",
            "finding_id": finding_id,
        }
    ]
    assert world.publisher.sent[0].subject == "Lemtrada ALERT clinic c1"
    assert world.repo.owed_alerts("c1") == ()
    assert world.drain_later() == 0  # nothing left behind: sent exactly once


def test_major_findings_and_history_are_not_alerted(world: World) -> None:
    world.cbc(date(2026, 11, 20), Analyte("platelets", 120, "10*9/L"))  # major: below range
    world.cbc(date(2026, 10, 24))  # critical but history: 31 days before enrolled_on (today, 2026-11-24)
    world.cbc(date(2026, 10, 25))  # critical, within the 30 days before enrollment: current
    assert [a["date"] for a in world.alerts()] == ["2026-10-25"]
    assert world.repo.owed_alerts("c1") == ()


def test_a_critical_deviation_is_alerted_once(world: World) -> None:
    recorded = world.recording.record_infusion(
        CLINICIAN, world.pid, infusion_request(date(2026, 11, 20), route=InfusionRoute.IV_PUSH)
    )
    critical = sorted(d.code for d in recorded.view.deviations if d.severity == "critical")
    assert "iv_push_or_bolus" in critical
    alerts = world.alerts()
    assert sorted(a["code"] for a in alerts) == critical
    assert all("finding_id" not in a and a["date"] == "2026-11-20" for a in alerts)
    replay = world.recording.record_infusion(
        CLINICIAN, world.pid, infusion_request(date(2026, 11, 20), route=InfusionRoute.IV_PUSH)
    )
    assert not replay.created
    assert len(world.alerts()) == len(critical)  # a replay stores nothing and sends nothing


def test_crash_before_the_commit_owes_and_sends_nothing(world: World) -> None:
    world.faulty.crash_on = "add_result"
    with pytest.raises(Crash):
        world.cbc()
    assert world.alerts() == []
    assert world.repo.owed_alerts("c1") == ()
    assert world.drain_later() == 0


def test_sns_refusing_the_writer_gives_the_alert_to_the_next_drain_at_once(world: World) -> None:
    world.publisher.fail_next = 1  # SNS refuses: the write still answers, the claim is given back
    recorded = world.cbc()
    assert world.alerts() == []
    (owed,) = world.repo.owed_alerts("c1")
    assert (owed.alert.finding_id, owed.holder, owed.lease_until) == (recorded.findings[0].finding_id, None, None)
    assert world.drain(NOW) == 1  # the minute drain does not wait for a lease: within the minute
    assert world.drain(NOW) == 0
    assert len(world.alerts()) == 1


def test_a_writer_dying_before_sns_took_the_alert_leaves_it_held_then_drained_once(world: World) -> None:
    world.publisher.crash_next = True
    with pytest.raises(Crash):
        world.cbc()
    assert world.alerts() == []
    (owed,) = world.repo.owed_alerts("c1")
    assert (owed.holder, owed.lease_until) == ("write", NOW + WRITER_LEASE)
    assert world.drain(NOW + WRITER_LEASE - timedelta(seconds=1)) == 0  # the writer may still be publishing
    assert world.drain(NOW + WRITER_LEASE) == 1
    assert world.drain(NOW + WRITER_LEASE) == 0
    assert len(world.alerts()) == 1


def test_crash_after_the_publish_before_the_mark_resends_once(world: World) -> None:
    world.faulty.crash_on = "alert_sent"
    with pytest.raises(Crash):
        world.cbc()
    assert len(world.alerts()) == 1
    assert world.drain(NOW + timedelta(seconds=30)) == 0  # still the writer's
    assert world.drain_later() == 1  # the one documented duplicate window
    assert world.drain_later() == 0
    assert len(world.alerts()) == 2


def test_an_error_forgetting_a_sent_alert_does_not_fail_the_committed_write(world: World) -> None:
    """A throttled delete after SNS took the alert must not turn the stored result into an error answer (the caller
    would retry and store it twice): the write answers, the alert stays owed, within the one duplicate window."""
    failing = world.faulty.inner

    def throttled(alert: Alert, holder: str | None = None) -> bool:
        raise RuntimeError("ProvisionedThroughputExceededException")

    original = failing.alert_sent
    failing.alert_sent = throttled  # type: ignore[method-assign]
    try:
        recorded = world.cbc()
    finally:
        failing.alert_sent = original  # type: ignore[method-assign]
    assert [f.code for f in recorded.findings] == ["platelets_below_100"]
    assert len(world.alerts()) == 1
    assert len(world.repo.owed_alerts("c1")) == 1
    assert world.drain_later() == 1  # the documented window: sent again once, then forgotten
    assert world.drain_later() == 0


# ---- the drain's own crash points: the writer's publish was refused, so the alert is the drains' ----------------


def left_to_the_drains(world: World) -> None:
    world.publisher.fail_next = 1
    world.cbc()
    assert world.alerts() == []


def test_a_drain_dying_before_its_claim_leaves_it_to_the_next(world: World) -> None:
    left_to_the_drains(world)
    world.faulty.crash_on = "claim_alert"
    with pytest.raises(Crash):
        world.drain(NOW)
    assert world.alerts() == []
    assert world.drain(NOW) == 1
    assert world.drain(NOW) == 0


def test_a_drain_dying_after_its_claim_before_the_publish_holds_it_for_its_lease(world: World) -> None:
    left_to_the_drains(world)
    world.publisher.crash_next = True
    with pytest.raises(Crash):
        world.drain(NOW)
    assert world.alerts() == []
    assert world.drain(NOW + DRAIN_LEASE - timedelta(seconds=1)) == 0  # it may still be publishing
    assert world.drain(NOW + DRAIN_LEASE) == 1
    assert world.drain(NOW + DRAIN_LEASE) == 0
    assert len(world.alerts()) == 1


def test_a_drain_dying_after_the_publish_before_the_mark_resends_once(world: World) -> None:
    left_to_the_drains(world)
    world.faulty.crash_on = "alert_sent"
    with pytest.raises(Crash):
        world.drain(NOW)
    assert len(world.alerts()) == 1
    assert world.drain(NOW + timedelta(seconds=1)) == 0
    assert world.drain(NOW + DRAIN_LEASE) == 1  # the one duplicate window
    assert world.drain(NOW + DRAIN_LEASE) == 0
    assert len(world.alerts()) == 2


def test_sns_refusing_a_drain_gives_it_back_for_the_next(world: World) -> None:
    left_to_the_drains(world)
    world.publisher.fail_next = 1
    report = AlertDelivery(world.repo, world.publisher).drain("c1", NOW)
    assert (report.sent, report.failed) == ([], 1)
    assert world.drain(NOW) == 1
    assert len(world.alerts()) == 1


def test_a_drain_dying_before_it_gives_a_refused_alert_back_holds_it_for_its_lease(world: World) -> None:
    left_to_the_drains(world)
    world.publisher.fail_next = 1
    world.faulty.crash_on = "release_alert"
    with pytest.raises(Crash):
        world.drain(NOW)
    assert world.drain(NOW + timedelta(seconds=59)) == 0
    assert world.drain(NOW + DRAIN_LEASE) == 1
    assert len(world.alerts()) == 1


def test_claims_are_exclusive_until_the_lease_runs_out(world: World) -> None:
    left_to_the_drains(world)
    alert = world.repo.owed_alerts("c1")[0].alert
    until = NOW + DRAIN_LEASE
    assert world.repo.claim_alert(alert, "a", NOW, until) is True
    assert world.repo.claim_alert(alert, "b", NOW + timedelta(seconds=59), until) is False
    assert world.repo.release_alert(alert, "b") is False  # only the holder gives it back
    assert world.repo.alert_sent(alert, "b") is False  # nor forgets it
    assert world.repo.claim_alert(alert, "b", until, until + DRAIN_LEASE) is True  # a's lease ran out
    assert world.repo.alert_sent(alert, "a") is False
    assert world.repo.alert_sent(alert, "b") is True
    assert world.repo.claim_alert(alert, "c", until, until) is False  # no longer owed


def test_drain_all_reads_every_clinic_and_reports_the_oldest_still_owed(world: World) -> None:
    Clinics(world.faulty.inner, lambda: NOW).put_clinic(ADMIN, "c2", name="Other", timezone="UTC", label=Label.US)
    world.publisher.crash_next = True
    with pytest.raises(Crash):
        world.cbc()  # c1's writer died: its lease holds for a minute
    delivery = AlertDelivery(world.repo, world.publisher)
    report = delivery.drain_all(NOW + timedelta(seconds=40))
    assert (report.sent, report.held, report.oldest_owed_seconds) == ([], 1, 40.0)
    report = delivery.drain_all(NOW + timedelta(minutes=6))
    assert (len(report.sent), report.held, report.oldest_owed_seconds) == (1, 0, 0.0)
    world.publisher.fail_next = 1
    world.cbc(date(2026, 11, 21))
    world.publisher.fail_next = 1
    report = delivery.drain_all(NOW + timedelta(minutes=7))  # SNS down: the alert has waited seven minutes
    assert (report.failed, report.oldest_owed_seconds) == (1, 420.0)


def test_the_sweeps_publish_step_drains_leftovers(world: World) -> None:
    world.publisher.fail_next = 1
    world.cbc()
    report = world.sweep.publish()  # NOW (the test clock) is long before the real clock the sweep reads
    assert report.alerts_sent == 1
    assert len(world.alerts()) == 1
    assert world.sweep.publish().alerts_sent == 0


def test_alert_sent_is_conditional(world: World) -> None:
    world.publisher.fail_next = 1
    world.cbc()
    owed: Alert = world.repo.owed_alerts("c1")[0].alert
    assert world.repo.alert_sent(owed) is True
    assert world.repo.alert_sent(owed) is False


def test_a_drain_out_of_time_claims_no_more_and_leaves_them_unheld(world: World) -> None:
    left_to_the_drains(world)
    world.publisher.fail_next = 1
    world.cbc(date(2026, 11, 21))
    calls = iter([False, True])
    report = AlertDelivery(world.repo, world.publisher).drain("c1", NOW, out_of_time=lambda: next(calls))
    assert (len(report.sent), report.deferred) == (1, 1)
    (left,) = world.repo.owed_alerts("c1")
    assert left.holder is None  # never claimed: the next run takes it at once
    assert world.drain(NOW) == 1
