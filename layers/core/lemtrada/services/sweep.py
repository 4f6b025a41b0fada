"""The nightly sweep: plan (each clinic's local date), worker (one due-index shard), publish (digests).

Order of writes, and why (DESIGN 2.6 and 5):

1. worker: for each due patient one version-checked transaction (``record_sweep``) stores the notice marks,
   ``swept_through``, the next ``next_check``, the month's sweep audit entry and the notices' digest items on an
   outbox page of (clinic, date, shard) filled by this run: a notice is queued exactly when it is marked, and the
   marks are the dedupe (the engine is asked with them as sent);
2. publish: per clinic and date, every pending outbox entry (tonight's and leftovers of a crashed run) goes out in
   one digest (parts if large); once SNS accepted a part its entries leave their pages.

A crash after 1 leaves queued notices the next publish sends and marks the next worker will not queue again; a
write that lost a race (or crashed) wrote neither. Only a crash between SNS accepting a part and step 2's marking
can send a part twice. Every step is safe to repeat, so Step Functions retries and re-runs are harmless.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from lemtrada.notify.digest import SNS_MAX_BYTES, build_digest
from lemtrada.notify.publisher import DigestPublisher, PublishError
from lemtrada.regimen.records import Clinic, Label, PatientRecord
from lemtrada.services import digest_hours
from lemtrada.services.acknowledgements import settled
from lemtrada.services.alerts import AlertDelivery
from lemtrada.storage.ports import (
    MAX_TRANSACTION_ITEMS,
    AlreadyExists,
    Outbox,
    OutboxAppend,
    OutboxEntry,
    OutboxPage,
    PatientRepository,
    QueuedNotice,
    StoredPatient,
    VersionConflict,
    WorklistUpdate,
)

logger = logging.getLogger(__name__)

# record_sweep takes at most 98 keys (its condition names each one, and must stay under DynamoDB's 4 KB).
_MARKS_PER_WRITE = MAX_TRANSACTION_ITEMS - 2
_PATIENT_ATTEMPTS = 5
DIGEST_LIMIT = SNS_MAX_BYTES
"""The size a digest part may reach (SNS's limit; a test lowers it to see a digest split over parts)."""
PAGE_BYTES = 900
"""An outbox page takes appends until its chunks pass this many bytes (with its keys and names, ~1 KB): an append
costs the page's size, so small pages keep every sweep write near the 1 KB a write unit buys."""


class OutboxPages:
    """The pages one worker run fills, per (clinic, date): the next append goes to the current page unless it
    would pass ``PAGE_BYTES``. Only committed appends count; a lost race rewrites its chunk on the same page."""

    def __init__(self, shard: int, run: str | None = None, limit: int = PAGE_BYTES) -> None:
        self.shard = shard
        self.run = run if run is not None else uuid.uuid4().hex[:10]
        self.limit = limit
        self._current: dict[tuple[str, date], tuple[int, int]] = {}  # (clinic, date) -> (page number, bytes)

    def page_for(self, clinic_id: str, day: date, size: int) -> OutboxPage:
        number, used = self._current.get((clinic_id, day), (0, 0))
        if used and used + size > self.limit:
            number, used = number + 1, 0
            self._current[(clinic_id, day)] = (number, used)
        return OutboxPage(clinic_id=clinic_id, date=day, shard=self.shard, run=self.run, number=number)

    def committed(self, page: OutboxPage, size: int) -> None:
        number, used = self._current.get((page.clinic_id, page.date), (page.number, 0))
        self._current[(page.clinic_id, page.date)] = (page.number, (used if number == page.number else 0) + size)


def chunk_size(notices: Sequence[QueuedNotice]) -> int:
    """About what a chunk adds to a page: its JSON and its name."""
    return 40 + sum(len(n.key) + len(json.dumps(dict(n.item), separators=(",", ":"))) + 6 for n in notices)


class SweepError(Exception):
    """A shard or the publish step could not finish; the run must fail loudly (and be retried)."""


# ---- the rules the sweep asks ---------------------------------------------------------------------------------
class NoticeLike(Protocol):
    """What the sweep needs of a notice: its once-only key and its digest item."""

    @property
    def key(self) -> str: ...

    def to_digest_item(self) -> Mapping[str, Any]: ...


class SweepRules(Protocol):
    """The regimen engine as the sweep uses it (injected, so the plumbing is tested on its own too)."""

    def notices_due(
        self, record: PatientRecord, on: date, sent: frozenset[str], label: Label
    ) -> Sequence[NoticeLike]: ...

    def next_check(self, record: PatientRecord, sent: frozenset[str], label: Label, after: date) -> date | None: ...


class EngineRules:
    """SweepRules backed by the regimen engine and the clinic's label protocol."""

    def notices_due(self, record: PatientRecord, on: date, sent: frozenset[str], label: Label) -> Sequence[NoticeLike]:
        from lemtrada.regimen import notices, protocol  # noqa: PLC0415 - the engine loads only where it is used

        return notices.notices_due(record, on, sent, protocol.protocol_for(label))

    def next_check(self, record: PatientRecord, sent: frozenset[str], label: Label, after: date) -> date | None:
        from lemtrada.regimen import notices, protocol  # noqa: PLC0415

        return notices.next_check(record, sent, protocol.protocol_for(label), after=after)

    def worklist(self, stored: StoredPatient, on: date, label: Label) -> WorklistUpdate | None:
        """The worklist projection the sweep writes with the patient's marks (None: the stored one holds)."""
        from lemtrada.services.worklists import projection_update  # noqa: PLC0415

        return projection_update(stored, stored.record, stored.acknowledgements, on, label)


# ---- plan -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClinicDay:
    """A clinic's local date for this run and the label whose protocol applies."""

    date: date
    label: Label


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What every worker of one run shares: the clinics' local dates and the shards to sweep."""

    clinics: Mapping[str, ClinicDay]
    shards: tuple[int, ...]
    run_at: datetime | None = None
    fixed_date: date | None = None
    run_id: str | None = None  # the execution holding the clinics' leases (hourly runs; a forced date has none)
    late: int = 0  # clinics whose digest should have gone out 3 hours ago (the sweep-late alarm)

    @property
    def idle(self) -> bool:
        """Nothing to sweep this hour: the state machine ends at once (no worker, no publish)."""
        return not self.clinics

    @property
    def through(self) -> date | None:
        """The latest clinic date: the one bound the due-index query can use for every clinic at once."""
        return max((day.date for day in self.clinics.values()), default=None)

    def to_json(self) -> dict[str, Any]:
        through = self.through
        return {
            "run_at": self.run_at.isoformat() if self.run_at else None,
            "date": self.fixed_date.isoformat() if self.fixed_date else None,
            "through": through.isoformat() if through else None,
            "clinics": {
                cid: {"date": day.date.isoformat(), "label": str(day.label)} for cid, day in self.clinics.items()
            },
            "shards": list(self.shards),
            "run_id": self.run_id,
            "late": self.late,
            "idle": self.idle,
        }

    @staticmethod
    def clinics_from_json(data: Mapping[str, Any]) -> dict[str, ClinicDay]:
        return {
            cid: ClinicDay(date=date.fromisoformat(value["date"]), label=Label(value["label"]))
            for cid, value in data.items()
        }


def run_input(event: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """(the run's input, its execution id): the state machine passes ``{"input": ..., "execution": ...}``; a
    bare input (a direct invoke, the tests) has no execution id and gets a fresh one."""
    if isinstance(event.get("input"), Mapping):
        execution = event.get("execution")
        return event["input"], str(execution) if execution else None
    return event, None


def parse_run_instant(event: Mapping[str, Any]) -> tuple[datetime | None, date | None]:
    """The run's instant (`now`, or Scheduler's `time`) or a fixed `date` for every clinic; neither: now."""
    if event.get("date"):
        return None, date.fromisoformat(str(event["date"]))
    raw = event.get("now") or event.get("time")
    if raw:
        instant = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        if instant.tzinfo is None:
            raise ValueError("the run instant needs a time zone offset")
        return instant, None
    return datetime.now(UTC), None


def local_date(instant: datetime, timezone: str) -> date:
    return instant.astimezone(ZoneInfo(timezone)).date()


def plan_run(
    clinics: Iterable[Clinic], shards: int, instant: datetime | None = None, fixed_date: date | None = None
) -> RunPlan:
    """Each clinic's local date at the run's instant (or the fixed date for all), and every shard."""
    if (instant is None) == (fixed_date is None):
        raise ValueError("a run has either an instant or a fixed date")
    days = {}
    for clinic in clinics:
        on = fixed_date if fixed_date is not None else local_date(instant, clinic.timezone)  # type: ignore[arg-type]
        days[clinic.clinic_id] = ClinicDay(date=on, label=clinic.label)
    return RunPlan(clinics=days, shards=tuple(range(shards)), run_at=instant, fixed_date=fixed_date)


# ---- reports --------------------------------------------------------------------------------------------------
@dataclass
class ShardReport:
    """What one worker did: for metrics and the state machine's (small) result."""

    shard: int
    index_rows: int = 0
    examined: int = 0
    notices: Counter[str] = field(default_factory=Counter)  # by kind
    conflicts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "index_rows": self.index_rows,
            "examined": self.examined,
            "notices": dict(self.notices),
            "conflicts": self.conflicts,
        }


@dataclass(frozen=True, slots=True)
class SentDigest:
    clinic_id: str
    date: date
    part: int
    parts: int
    items: int
    message_id: str


@dataclass
class PublishReport:
    sent: list[SentDigest] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    alerts_sent: int = 0  # leftover alerts drained (DESIGN 7): their writers crashed or could not publish

    def to_json(self) -> dict[str, Any]:
        return {
            "digests": [
                {
                    "clinic_id": d.clinic_id,
                    "date": d.date.isoformat(),
                    "part": d.part,
                    "parts": d.parts,
                    "items": d.items,
                }
                for d in self.sent
            ],
            "failed": list(self.failed),
        }


# ---- the service ----------------------------------------------------------------------------------------------
class SweepService:
    """The three steps; each is idempotent so a retry or a re-run never loses or repeats a notice."""

    def __init__(
        self,
        repository: PatientRepository,
        outbox: Outbox,
        publisher: DigestPublisher,
        rules: SweepRules | None = None,
        *,
        worklist_url: str | None = None,
    ) -> None:
        """``worklist_url``: the `WorklistUrl` parameter the digest e-mail points to (`{clinic_id}` replaced)."""
        self.repository = repository
        self.outbox = outbox
        self.publisher = publisher
        self.rules: SweepRules = rules if rules is not None else EngineRules()
        self.worklist_url = worklist_url

    # -- plan --------------------------------------------------------------------------------------------------
    def plan(self, event: Mapping[str, Any]) -> RunPlan:
        """A forced ``date`` sweeps every clinic for it; an instant (the hourly schedule) takes each clinic whose
        local hour has reached its ``digest_hour`` and whose local date is not swept yet, under a lease written
        conditionally first, so two runs at once never sweep or publish the same clinic (DESIGN 8)."""
        body, execution = run_input(event)
        instant, fixed_date = parse_run_instant(body)
        clinics = [stored.clinic for stored in self.repository.list_clinics()]
        if instant is None:
            return plan_run(clinics, self.repository.due_shards, fixed_date=fixed_date)
        run_id = execution or f"run-{uuid.uuid4()}"
        leases = self.repository.sweep_leases()
        taken: dict[str, ClinicDay] = {}
        for clinic in clinics:
            day = digest_hours.date_to_sweep(clinic, instant, leases.get(clinic.clinic_id), run_id)
            if day is None:
                continue
            if self.repository.claim_sweep(clinic.clinic_id, day, run_id, instant + digest_hours.LEASE, instant):
                taken[clinic.clinic_id] = ClinicDay(date=day, label=clinic.label)
        late = sum(digest_hours.is_late(c, instant, leases.get(c.clinic_id)) for c in clinics)
        shards = tuple(range(self.repository.due_shards)) if taken else ()
        return RunPlan(clinics=taken, shards=shards, run_at=instant, run_id=run_id, late=late)

    # -- worker ------------------------------------------------------------------------------------------------
    def sweep_shard(self, shard: int, clinics: Mapping[str, ClinicDay]) -> ShardReport:
        """Every due patient of one shard: marks, next_check and the notices onto this run's outbox pages."""
        report = ShardReport(shard=shard)
        through = max((day.date for day in clinics.values()), default=None)
        if through is None:
            return report
        pages = OutboxPages(shard)
        for entry in self.repository.due_patients(shard, through):
            report.index_rows += 1
            clinic = clinics.get(entry.clinic_id)
            if clinic is None or entry.next_check > clinic.date:
                continue  # not yet due in its own clinic's today (or a clinic newer than the plan)
            self._sweep_patient(entry.patient_id, entry.clinic_id, clinic, report, pages)
        return report

    def _sweep_patient(
        self, patient_id: str, clinic_id: str, clinic: ClinicDay, report: ShardReport, pages: OutboxPages
    ) -> None:
        day = clinic.date
        strong = False
        for _ in range(_PATIENT_ATTEMPTS):
            # The first read is eventually consistent (half the read capacity): record_sweep is conditioned on
            # the version read, so a stale record fails it, and every later attempt reads strongly consistent.
            stored = self.repository.get_patient(patient_id, consistent_read=strong)
            if stored is None or stored.next_check is None or stored.next_check > day:
                if not strong:
                    strong = True  # a stale copy may predate the write that made the patient due: make sure
                    continue
                return  # already swept (a retried shard or a concurrent run)
            report.examined += 1
            record, sent = stored.record, settled(stored)
            withdrawn = stored.record.profile.withdrawn_on
            if withdrawn is not None and withdrawn <= day:
                notices: Sequence[NoticeLike] = ()
                upcoming: date | None = None
            else:
                notices = [
                    notice
                    for notice in self.rules.notices_due(record, day, sent, clinic.label)
                    if notice.key not in sent
                ]
                upcoming = self.rules.next_check(record, sent | {n.key for n in notices}, clinic.label, after=day)
                if upcoming is not None and upcoming <= day:
                    logger.error("engine gave a next_check not after the sweep date", extra={"patient_id": patient_id})
                    upcoming = day + timedelta(days=1)
            worklist = self._worklist(stored, day, clinic.label)
            if worklist is not None and worklist.after.changes_on is not None:
                upcoming = min(d for d in (upcoming, worklist.after.changes_on) if d is not None)
            elif worklist is None and stored.worklist is not None and stored.worklist.changes_on is not None:
                upcoming = min(d for d in (upcoming, stored.worklist.changes_on) if d is not None)
            queued = [QueuedNotice(n.key, n.to_digest_item()) for n in notices]
            try:
                self._record(stored, day, queued, upcoming=upcoming, pages=pages, worklist=worklist)
            except (VersionConflict, AlreadyExists):
                report.conflicts += 1
                strong = True
                continue  # someone wrote meanwhile, or the read was stale: read again and recompute
            for notice in notices:
                report.notices[str(notice.to_digest_item().get("kind", "other"))] += 1
            return
        raise SweepError(f"patient {patient_id} kept changing during the sweep")

    def _worklist(self, stored: StoredPatient, day: date, label: Label) -> WorklistUpdate | None:
        """The projection's change, when the rules keep one (the engine's do; plumbing tests' fakes need not)."""
        rule = getattr(self.rules, "worklist", None)
        return None if rule is None else rule(stored, day, label)

    def _record(
        self,
        stored: StoredPatient,
        day: date,
        queued: list[QueuedNotice],
        *,
        upcoming: date | None,
        pages: OutboxPages,
        worklist: WorklistUpdate | None = None,
    ) -> None:
        """record_sweep in writes of at most 98 notices: all but the last keep the patient due (next_check). Each
        write's notices go onto this run's current page of the patient's clinic and date, in the same transaction;
        the last one also carries the worklist projection's change.

        The marks name the clinic of the record read (the write is conditioned on its version), which spares the
        repository a read of its own."""
        chunks = [queued[i : i + _MARKS_PER_WRITE] for i in range(0, len(queued), _MARKS_PER_WRITE)] or [[]]
        version, current = stored.version, stored.next_check
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            outbox = None
            if chunk:
                size = chunk_size(chunk)
                outbox = OutboxAppend(pages.page_for(stored.clinic_id, day, size), tuple(chunk))
            version = self.repository.record_sweep(
                stored.patient_id,
                day,
                [n.key for n in chunk],
                version,
                upcoming if last else current,
                clinic_id=stored.clinic_id,
                outbox=outbox,
                worklist=worklist if last else None,
            )
            if outbox is not None:
                pages.committed(outbox.page, size)

    # -- publish -----------------------------------------------------------------------------------------------
    def publish(self, clinics: Mapping[str, ClinicDay] | None = None, run_id: str | None = None) -> PublishReport:
        """One digest per clinic and date with pending entries; a failing clinic does not hold up the others.

        ``clinics``: only the clinics this run swept (an hourly run never publishes a clinic another run holds);
        None: every clinic. ``run_id``: the run's lease on each clinic's date is marked done once its digests went
        out (the Catch path passes none: its failed shard's patients are still due, and the lease lapsing lets a
        later run of the same day finish them).

        First, each clinic's leftover alerts (owed for over a minute) are published: the drain of DESIGN 7."""
        report = PublishReport()
        drain = AlertDelivery(self.repository, self.publisher)
        for stored in self.repository.list_clinics():
            clinic_id = stored.clinic.clinic_id
            if clinics is not None and clinic_id not in clinics:
                continue
            drained = drain.drain(clinic_id, datetime.now(UTC))
            report.alerts_sent += len(drained.sent)
            if drained.failed:
                report.failed.append(clinic_id)
                continue
            try:
                self._publish_clinic(clinic_id, report)
            except PublishError:
                logger.exception("digest not accepted", extra={"clinic_id": clinic_id})
                report.failed.append(clinic_id)
                continue
            if clinics is not None and run_id is not None:
                self.repository.complete_sweep(clinic_id, clinics[clinic_id].date, run_id)
        if report.failed:
            raise SweepError(f"digests of {len(report.failed)} clinic(s) not sent; they stay pending for the retry")
        return report

    def _publish_clinic(self, clinic_id: str, report: PublishReport) -> None:
        by_date: dict[date, list[OutboxEntry]] = {}
        for entry in self.outbox.pending(clinic_id):
            by_date.setdefault(entry.date, []).append(entry)
        for day in sorted(by_date):
            entries = by_date[day]
            owner: dict[int, OutboxEntry] = {id(entry.item): entry for entry in entries}
            # One message unless it would pass SNS's 256 KiB; each part is marked sent as soon as SNS accepted it,
            # so a re-run publishes only what is still pending (and nothing once all went out).
            items = [entry.item for entry in entries]
            for message in build_digest(clinic_id, day, items, worklist_url=self.worklist_url, limit=DIGEST_LIMIT):
                part_entries = [owner[id(item)] for item in message.items]
                message_id = self.publisher.publish(message)
                # The one duplicate window: SNS has the part, the outbox does not know yet. Nothing runs in between.
                self.outbox.mark_sent(part_entries, message_id)
                report.sent.append(
                    SentDigest(clinic_id, day, message.part, message.parts, len(message.items), message_id)
                )


def run_in_process(service: SweepService, event: Mapping[str, Any]) -> tuple[RunPlan, list[ShardReport], PublishReport]:
    """The state machine's three steps, in the same order, in one process (local stack, tests, `make sweep`)."""
    plan = service.plan(event)
    if plan.idle:
        return plan, [], PublishReport()
    reports = [service.sweep_shard(shard, plan.clinics) for shard in plan.shards]
    return plan, reports, service.publish(plan.clinics, plan.run_id)
