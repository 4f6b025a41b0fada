"""Months of nightly sweeps, day by day, for patients of two clinics at opposite ends of the date line.

The oracle asks the regimen engine, for every patient on every date a sweep ran, what is owed given what was
delivered so far. The sweep (due index, next_check, outbox, digests) must deliver exactly that: every notice once,
in the digest of its clinic's local date, nothing for withdrawn patients, nothing new on a re-run, and caught up
after skipped nights. Crashes are injected at random step boundaries on some nights.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from lemtrada.regimen import (
    deviation_key,
    milestone_key,
    next_check,
    notices_due,
    occurrence_key,
    plan_infusion,
    protocol_for,
)
from lemtrada.regimen.dates import add_months
from lemtrada.regimen.records import (
    InfusionRequest,
    InfusionRoute,
    Label,
    Result,
    ResultItem,
    Sex,
)
from lemtrada.services.sweep import SweepService, run_in_process

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.unit.sweep.fakes import AUDIT, Crash, add_clinic, add_patient, crash_on

PROTOCOL = protocol_for(Label.US)
CLINICS = {"kiritimati": "Pacific/Kiritimati", "pago": "Pacific/Pago_Pago"}  # UTC+14, UTC-11
START = date(2026, 1, 1)
DAYS = 500
MONTHLY = (ResultItem.CBC, ResultItem.CREATININE, ResultItem.URINALYSIS, ResultItem.LIVER)


@dataclass
class PatientPlan:
    """How one simulated patient behaves: when courses start, how late labs are, deviations, withdrawal."""

    pid: str
    clinic: str
    course_1: date
    lab_delay: int | None  # days after each due date the labs arrive; None: never
    female: bool = False
    deviations: bool = False
    withdraw_on: date | None = None
    entered_on: date | None = None  # history typed in late: course 1 recorded on this date
    events: dict[date, list[Any]] = field(default_factory=dict)


def _request(day: date, deviations: bool) -> InfusionRequest:
    start = datetime.combine(day, time(9), tzinfo=UTC)
    return InfusionRequest(
        date=day,
        dose_mg=10.0 if deviations else 12.0,
        diluted_at=start - timedelta(hours=1),
        started_at=start,
        ended_at=start + timedelta(hours=3 if deviations else 4, minutes=30),
        route=InfusionRoute.IV_INFUSION,
        co_infused=False,
        methylprednisolone_mg=1000.0,
        antiviral_prophylaxis=True,
        observation_minutes=120,
        batch_number="B1",
    )


def _plans() -> list[PatientPlan]:
    plans = [
        PatientPlan("k-diligent", "kiritimati", date(2026, 1, 12), 0, female=True),
        PatientPlan("k-late", "kiritimati", date(2026, 2, 2), 12),
        PatientPlan("k-never", "kiritimati", date(2026, 1, 5), None, deviations=True),
        PatientPlan("k-withdrawn", "kiritimati", date(2026, 1, 20), 3, withdraw_on=date(2026, 7, 15)),
        PatientPlan("p-diligent", "pago", date(2026, 1, 31), 0),
        PatientPlan("p-slow", "pago", date(2026, 1, 8), 40, female=True, deviations=True),
        PatientPlan("p-history", "pago", date(2025, 9, 1), 5, entered_on=date(2026, 3, 10)),
        PatientPlan("p-course2", "pago", date(2026, 2, 16), 1),
    ]
    for plan in plans:
        for day in range(5):
            plan.events.setdefault(plan.entered_on or plan.course_1 + timedelta(days=day), []).append(
                ("infusion", plan.course_1 + timedelta(days=day))
            )
        if plan.pid == "p-course2":
            for day in range(3):
                second = add_months(plan.course_1 + timedelta(days=4), 12) + timedelta(days=day)
                plan.events.setdefault(second, []).append(("infusion", second))
        if plan.lab_delay is not None:
            for k in range(1, 30):
                due = add_months(plan.course_1, k) + timedelta(days=plan.lab_delay)
                items = list(MONTHLY) + ([ResultItem.THYROID] if k % 3 == 0 else [])
                items += [ResultItem.SKIN_EXAM] if k % 12 == 0 else []
                when = max(due, plan.entered_on or due)
                for item in items:
                    plan.events.setdefault(when, []).append(("result", item, due))
        if plan.withdraw_on:
            plan.events.setdefault(plan.withdraw_on, []).append(("withdraw",))
    return plans


def _item_key(item: dict[str, Any]) -> str:
    pid, code = item["patient_id"], item["code"]
    match item["kind"]:
        case "occurrence":
            return occurrence_key(pid, code, item["k"], item["state"])
        case "milestone":
            return milestone_key(pid, code, date.fromisoformat(item["date"]))
        case _:
            return deviation_key(pid, code, date.fromisoformat(item["date"]))


class Simulation:
    def __init__(
        self, seed: int, crash_rate: float = 0.0, skip: frozenset[int] = frozenset(), rerun_after_crash: bool = True
    ) -> None:
        self.random = random.Random(seed)
        self.crash_rate = crash_rate
        self.rerun_after_crash = rerun_after_crash
        self.crashes = 0
        self.skip = skip
        self.repo = InMemoryPatientRepository(due_shards=4)
        self.outbox = InMemoryOutbox(self.repo)
        self.publisher = InMemoryDigestPublisher()
        self.service = SweepService(self.repo, self.outbox, self.publisher)
        self.plans = {plan.pid: plan for plan in _plans()}
        self.oracle_sent: dict[str, set[str]] = {pid: set() for pid in self.plans}
        self.expected: dict[tuple[str, str], set[str]] = {}  # (clinic, date) -> keys
        self.withdrawn_owed = 0
        for clinic_id, tz in CLINICS.items():
            add_clinic(self.repo, clinic_id, tz)
        for plan in self.plans.values():
            add_patient(self.repo, plan.pid, plan.clinic, None)
            stored = self.repo.get_patient(plan.pid)
            assert stored is not None
            enrollment = replace(
                stored.record.profile.enrollment,
                sex=Sex.FEMALE if plan.female else Sex.MALE,
                reproductive_potential=plan.female,
            )
            self.repo.update_profile(replace(stored.record.profile, enrollment=enrollment), stored.version, None, AUDIT)

    # -- what clinicians do during a local day (after that day's sweep) -------------------------------------
    def clinic_day(self, clinic: str, day: date) -> None:
        for plan in self.plans.values():
            if plan.clinic != clinic:
                continue
            for event in plan.events.get(day, []):
                self._apply(plan, event, day)

    def _apply(self, plan: PatientPlan, event: tuple[Any, ...], today: date) -> None:
        stored = self.repo.get_patient(plan.pid)
        assert stored is not None
        record = stored.record
        if event[0] == "infusion":
            infusion = plan_infusion(record, _request(event[1], plan.deviations), today, PROTOCOL)
            new = replace(record, infusions=tuple(sorted((*record.infusions, infusion), key=lambda i: i.date)))
            upcoming = next_check(new, stored.sent_notices, PROTOCOL, after=stored.swept_through)
            self.repo.add_infusion(plan.pid, infusion, stored.version, upcoming, AUDIT)
        elif event[0] == "result":
            result = Result(f"r-{event[1]}-{event[2]}", event[1], event[2])
            new = replace(record, results=tuple(sorted((*record.results, result), key=lambda r: (r.date, r.result_id))))
            upcoming = next_check(new, stored.sent_notices, PROTOCOL, after=stored.swept_through)
            self.repo.add_result(plan.pid, result, stored.version, upcoming, AUDIT)
        else:
            profile = replace(record.profile, withdrawn_on=today)
            new = replace(record, profile=profile)
            upcoming = next_check(new, stored.sent_notices, PROTOCOL, after=stored.swept_through)
            self.repo.update_profile(profile, stored.version, upcoming, AUDIT)

    # -- the oracle ------------------------------------------------------------------------------------------
    def owe(self, clinic: str, day: date) -> None:
        for plan in self.plans.values():
            if plan.clinic != clinic:
                continue
            stored = self.repo.get_patient(plan.pid)
            assert stored is not None
            owed = {n.key for n in notices_due(stored.record, day, frozenset(self.oracle_sent[plan.pid]), PROTOCOL)}
            if stored.record.profile.withdrawn_on is not None:
                self.withdrawn_owed += len(owed)
            self.oracle_sent[plan.pid] |= owed
            if owed:
                self.expected.setdefault((clinic, day.isoformat()), set()).update(owed)

    # -- nights ----------------------------------------------------------------------------------------------
    def nights(self) -> Iterator[tuple[int, datetime, dict[str, date]]]:
        for offset in range(DAYS):
            instant = datetime.combine(START + timedelta(days=offset), time(12), tzinfo=UTC)
            local = {cid: instant.astimezone(__import__("zoneinfo").ZoneInfo(tz)).date() for cid, tz in CLINICS.items()}
            yield offset, instant, local

    def run(self) -> None:
        for offset, instant, local in self.nights():
            for clinic, today in local.items():
                self.clinic_day(clinic, today - timedelta(days=1))
            if offset in self.skip:
                continue
            for clinic, today in local.items():
                self.owe(clinic, today)
            completed = self._sweep(instant, f"night-{offset}")
            if completed and offset % 37 == 0:
                before = len(self.publisher.sent)
                self._sweep(instant, f"night-{offset}")  # the same execution again (a retry of a finished run)
                assert len(self.publisher.sent) == before
                self._sweep(instant, f"night-{offset}-again")  # a second execution the same night
                assert len(self.publisher.sent) == before

    def _sweep(self, instant: datetime, execution: str) -> bool:
        """One night's execution (maybe crashing, then retried as Step Functions retries its steps, within the
        same execution and its leases); True when it completed."""
        event = {"input": {"now": instant.isoformat()}, "execution": execution}
        if self.random.random() < self.crash_rate:
            target, method = self.random.choice(
                [
                    (self.repo, "get_patient"),
                    (self.repo, "record_sweep"),
                    (self.outbox, "mark_sent"),
                    (self.outbox, "pending"),
                    (self.repo, "due_patients"),
                    (self.repo, "list_clinics"),
                ]
            )
            original = getattr(target, method)
            # mark_sent only after it ran: a crash before it is the one duplicate window (SNS has the part)
            after = method == "mark_sent" or self.random.random() < 0.5
            crash_on(target, method, self.random.randint(1, 4), after=after)
            try:
                run_in_process(self.service, event)
            except Crash:
                self.crashes += 1
            setattr(target, method, original)
            if not self.rerun_after_crash:
                return False  # the state machine failed; nobody re-ran it tonight
        run_in_process(self.service, event)
        return True

    def delivered(self) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = {}
        for sent in self.publisher.sent:
            digest = sent.digest
            assert sent.attributes["clinic_id"] == digest["clinic_id"]
            out.setdefault((digest["clinic_id"], digest["date"]), []).extend(_item_key(i) for i in digest["items"])
        return out


def test_every_notice_owed_arrives_once_on_its_clinics_local_date() -> None:
    sim = Simulation(seed=1, skip=frozenset({50, 51, 52, 200}))
    sim.run()
    delivered = sim.delivered()
    assert {k: sorted(v) for k, v in delivered.items()} == {k: sorted(v) for k, v in sim.expected.items()}
    all_keys = [key for keys in delivered.values() for key in keys]
    assert len(all_keys) == len(set(all_keys))
    assert len(all_keys) > 300  # the simulation exercised plenty of notices
    kinds = {key.split("#")[1] for key in all_keys}
    assert kinds == {"occurrence", "milestone", "deviation"}
    assert sim.withdrawn_owed == 0
    withdrawn_after = [
        k for (c, d), keys in delivered.items() for k in keys if k.startswith("k-withdrawn") and d > "2026-07-15"
    ]
    assert withdrawn_after == []
    # The same run gives each clinic its own date: Kiritimati is a day ahead of Pago Pago.
    first = {c: min(d for cc, d in delivered if cc == c) for c in CLINICS}
    assert first == {"kiritimati": "2026-01-06", "pago": "2026-01-09"}  # k-never's and p-slow's day-1 deviations


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_crashes_then_a_rerun_the_same_night_deliver_exactly_what_is_owed(seed: int) -> None:
    sim = Simulation(seed=seed, crash_rate=0.3)
    sim.run()
    assert sim.crashes > 20
    delivered = sim.delivered()
    assert {k: sorted(v) for k, v in delivered.items()} == {k: sorted(v) for k, v in sim.expected.items()}


@pytest.mark.parametrize("seed", [5, 6])
def test_crashed_nights_left_alone_lose_nothing_queued_and_repeat_nothing(seed: int) -> None:
    sim = Simulation(seed=seed, crash_rate=0.3, rerun_after_crash=False)
    sim.run()
    assert sim.crashes > 20
    delivered = sim.delivered()
    all_keys = [key for keys in delivered.values() for key in keys]
    assert len(all_keys) == len(set(all_keys)), "a notice went out twice"
    expected_keys = {key for keys in sim.expected.values() for key in keys}
    assert set(all_keys) <= expected_keys, "a notice the engine never owed"
    assert sim.outbox.pending("kiritimati") == []
    assert sim.outbox.pending("pago") == []
    for plan in sim.plans.values():  # every mark stored on a patient went out (its outbox entry was retired)
        marks = sim.repo.notice_marks(plan.pid)
        pending = [m.key for m in marks if (m.clinic_id, plan.pid, m.key) not in sim.outbox.sent_keys]
        assert pending == []
    assert sim.outbox.pending_keys() == set()
