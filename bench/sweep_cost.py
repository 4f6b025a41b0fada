"""The nightly sweep against a sweep that scans the whole table, on DynamoDB Local, side by side.

Both produce the notices of one date; the real one is the product's code (plan, a worker per due-index shard,
publish, with the DynamoDB repository and outbox and an in-memory SNS publisher); the scan reads every item of
the table, rebuilds every record with the same item codec and asks the same engine. Their notices must match key
by key. What is compared is read capacity (DynamoDB's ``ConsumedCapacity``) and wall time.

Steady state: histories run up to ``TARGET - 2 days``; the load writes each patient as a sweep on that date would
have left it (notice marks, ``swept_through``, ``next_check``), the real sweep then runs for ``TARGET - 1 day``
(not measured), and only ``TARGET`` is measured, so the due index holds what one ordinary night finds.

Ids are shaped like the service's (32 hex digits for patients, 12 base32 characters for results), because item
sizes are capacity. The load writes each patient as the repository stores it, with one audit entry per write the
patient's version counts (the scan reads them; the sweep's record read does not). The load itself (BatchWriteItem
of the repository's own items) is not measured.

    .venv/bin/python -m bench.sweep_cost [--sizes 1000,2000] [--growth-base 120] [--growth-due 20] [--factors 1,10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_CORE = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from lemtrada.regimen.records import Clinic, Label, PatientRecord  # noqa: E402
from lemtrada.services.sweep import EngineRules, SweepService, run_in_process  # noqa: E402
from lemtrada.storage import keys  # noqa: E402
from lemtrada.storage.codec import audit_item, clinic_from_item, patient_from_items, patient_items  # noqa: E402
from lemtrada.storage.outbox import DynamoOutbox  # noqa: E402
from lemtrada.storage.ports import AuditEntry, OutboxEntry, StoredPatient  # noqa: E402
from lemtrada.storage.repository import DynamoPatientRepository  # noqa: E402

from bench.localdb import REGION, LocalDynamo, local_dynamodb  # noqa: E402
from bench.synthetic import synthetic_records  # noqa: E402
from tests.support.memory import InMemoryDigestPublisher  # noqa: E402

TARGET = date(2026, 6, 1)
SHARDS = 16
CLINICS = 40  # bench.synthetic spreads patients over clinic-1 .. clinic-40
ZONES = ("Europe/Berlin", "America/New_York", "Europe/London", "America/Chicago", "Australia/Sydney")
_RULES = EngineRules()

NoticeId = tuple[str, str, str]  # clinic, patient, notice key


# ---- population ------------------------------------------------------------------------------------------------
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _result_id(rng: random.Random) -> str:
    """Shaped like ``recording.new_result_id`` (12 base32 characters), from the seeded generator."""
    return "".join(rng.choice(_BASE32) for _ in range(12))


def with_service_ids(record: PatientRecord, rng: random.Random) -> PatientRecord:
    """The record with ids shaped like the service's, results re-sorted by (date, id)."""
    profile = replace(record.profile, patient_id=_hex_id(rng))
    results = sorted(
        (replace(r, result_id=_result_id(rng)) for r in record.results), key=lambda r: (r.date, r.result_id)
    )
    return PatientRecord(profile=profile, infusions=record.infusions, results=tuple(results))


def settled(record: PatientRecord, day: date) -> StoredPatient:
    """The patient as a sweep on ``day`` leaves it: what was owed is marked, next_check is the next owed day."""
    withdrawn = record.profile.withdrawn_on
    sent: frozenset[str] = frozenset()
    upcoming: date | None = None
    if withdrawn is None or withdrawn > day:
        sent = frozenset(n.key for n in _RULES.notices_due(record, day, frozenset(), Label.US))
        upcoming = _RULES.next_check(record, sent, Label.US, after=day)
    enrolled = record.profile.enrollment.enrolled_on
    return StoredPatient(
        record=record,
        version=1 + len(record.infusions) + len(record.results) + 1,
        enrolled_at=datetime(enrolled.year, enrolled.month, enrolled.day, 9, tzinfo=UTC),
        next_check=upcoming,
        swept_through=day,
        sent_notices=sent,
    )


def records(seed: int) -> Iterator[PatientRecord]:
    """An endless, deterministic stream of synthetic histories up to ``TARGET - 2 days``, with service ids."""
    rng = random.Random(seed * 7919 + 1)
    for record in synthetic_records(10**9, seed, TARGET - timedelta(days=2)):
        yield with_service_ids(record, rng)


def population(count: int, seed: int, settle_on: date, *, quiet_through: date | None = None) -> Iterator[StoredPatient]:
    """``count`` patients settled on ``settle_on``.

    With ``quiet_through``, only patients owing nothing on or before that date are kept (to grow the table
    without growing the number of due patients).
    """
    made = 0
    if count <= 0:
        return
    for record in records(seed):
        patient = settled(record, settle_on)
        if quiet_through is not None and patient.next_check is not None and patient.next_check <= quiet_through:
            continue
        yield patient
        made += 1
        if made >= count:
            return


def due_and_quiet(count: int, due: int, seed: int, settle_on: date, day: date) -> Iterator[StoredPatient]:
    """``count`` patients settled on ``settle_on``: ``due`` of them owe something on ``day`` and nothing before it
    (``next_check == day``, so the day-before sweep leaves them alone), the rest owe nothing through ``day``
    (monitoring over, withdrawn, or a ``next_check`` after it). Deterministic for a seed."""
    if not 0 <= due <= count:
        raise ValueError(f"due must be between 0 and count ({count}), not {due}")
    made_due = made_quiet = 0
    for record in records(seed):
        if made_due >= due and made_quiet >= count - due:
            return
        patient = settled(record, settle_on)
        if patient.next_check == day:
            if made_due < due:
                made_due += 1
                yield patient
        elif (patient.next_check is None or patient.next_check > day) and made_quiet < count - due:
            made_quiet += 1
            yield patient


# ---- load ------------------------------------------------------------------------------------------------------
@dataclass
class Loaded:
    patients: int = 0
    items: int = 0
    seconds: float = 0.0


def _audit(day: date) -> AuditEntry:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return AuditEntry(actor_sub="bench", actor_role="admins", at=at, action="clinic.saved", target="bench")


def save_clinics(db: LocalDynamo, table: str) -> None:
    repository = DynamoPatientRepository(table, host=db.endpoint, region=REGION, due_shards=SHARDS)
    for n in range(1, CLINICS + 1):
        clinic = Clinic(f"clinic-{n}", f"MS clinic {n}", ZONES[n % len(ZONES)], Label.US)
        repository.save_clinic(clinic, None, _audit(TARGET - timedelta(days=400)))


def audit_items(patient: StoredPatient) -> Iterator[dict[str, Any]]:
    """One audit entry per write that made the patient's version (enrolment, each infusion and result, the
    sweeps), as the service appends them: the same actor, action and target shapes, spread over the history."""
    pk = keys.patient_pk(patient.patient_id)
    record = patient.record
    enrolled = patient.enrolled_at
    writes: list[tuple[datetime, str, str]] = [(enrolled, "patient.enrolled", "PROFILE")]
    for infusion in record.infusions:
        at = datetime(infusion.date.year, infusion.date.month, infusion.date.day, 14, tzinfo=UTC)
        writes.append((at, "infusion.recorded", f"{keys.INFUSION_PREFIX}{infusion.date.isoformat()}"))
    for result in record.results:
        at = datetime(result.date.year, result.date.month, result.date.day, 16, tzinfo=UTC)
        writes.append((at, "result.recorded", f"{keys.RESULT_PREFIX}{result.date.isoformat()}#{result.result_id}"))
    sweeps = max(patient.version - len(writes), 0)
    last = patient.swept_through or enrolled.date()
    for n in range(sweeps):
        day = last - timedelta(days=n)
        at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        writes.append((at, "notices.recorded", f"{keys.NOTICE_PREFIX}{day.isoformat()}"))
    for at, action, target in writes:
        system = action == "notices.recorded"
        entry = AuditEntry(
            actor_sub="system:sweep" if system else "3c1f9a52-7d2e-4b8a-9f61-0e5d2c7b4a18",
            actor_role="system" if system else "clinicians",
            at=at,
            action=action,
            target=target,
        )
        yield audit_item(pk, entry)


def load(db: LocalDynamo, table: str, patients: Iterable[StoredPatient], threads: int = 4) -> Loaded:
    """BatchWriteItem of each patient's items as the repository's codec makes them (profile with due keys,
    infusions, results by year, notice marks) and its audit entries. Writers post the JSON straight to DynamoDB
    Local (which checks no signature) so that this machine's cores go to DynamoDB Local rather than to request
    building."""
    report = Loaded()
    started = time.perf_counter()
    local = threading.local()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
        "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }

    def write(batch: list[dict[str, Any]]) -> None:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection("127.0.0.1", db.server.port, timeout=60)
        request: dict[str, Any] = {table: batch}
        while request:
            connection.request("POST", "/", json.dumps({"RequestItems": request}), headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"BatchWriteItem failed: {answer}")
            request = answer.get("UnprocessedItems") or {}

    pending: list[Future[None]] = []
    batch: list[dict[str, Any]] = []
    with ThreadPoolExecutor(threads) as pool:
        for patient in patients:
            report.patients += 1
            for item in [*patient_items(patient, SHARDS), *audit_items(patient)]:
                batch.append({"PutRequest": {"Item": item}})
                if len(batch) == 25:
                    pending.append(pool.submit(write, batch))
                    report.items += len(batch)
                    batch = []
            if len(pending) > threads * 8:
                for future in pending:
                    future.result()
                pending = []
        if batch:
            pending.append(pool.submit(write, batch))
            report.items += len(batch)
        for future in pending:
            future.result()
    report.seconds = time.perf_counter() - started
    return report


# ---- the real sweep --------------------------------------------------------------------------------------------
class RecordingOutbox:
    """The DynamoDB outbox, noting which notices went out (for the key-by-key comparison): the worker queues them
    in the patients' own transactions, so what publish retires is exactly what the night queued."""

    def __init__(self, inner: DynamoOutbox) -> None:
        self.inner = inner
        self.queued: set[NoticeId] = set()

    def pending(self, clinic_id: str) -> list[OutboxEntry]:
        return self.inner.pending(clinic_id)

    def mark_sent(self, entries: Sequence[OutboxEntry], message_id: str) -> None:
        self.inner.mark_sent(entries, message_id)
        self.queued.update((entry.clinic_id, entry.patient_id, entry.key) for entry in entries)


@dataclass
class SweepRun:
    seconds: float
    read_units: float
    write_units: float
    index_rows: int
    due: int
    notices: set[NoticeId]
    digest_items: Counter[str]
    reads_by_operation: dict[str, float]
    writes_by_operation: dict[str, float] = field(default_factory=dict)
    index_writes: dict[str, float] = field(default_factory=dict)  # of the write units, each GSI's share


def _canonical(clinic_id: str, item: Any) -> str:
    return json.dumps({"clinic_id": clinic_id, **dict(item)}, sort_keys=True)


def real_sweep(db: LocalDynamo, table: str, day: date) -> SweepRun:
    """plan -> every shard's worker -> publish, in process (as ``make sweep`` and the local stack run it)."""
    repository = DynamoPatientRepository(table, host=db.endpoint, region=REGION, due_shards=SHARDS)
    outbox = RecordingOutbox(DynamoOutbox(table, client=db.new_client()))
    publisher = InMemoryDigestPublisher()
    service = SweepService(repository, outbox, publisher)
    started = time.perf_counter()
    _, reports, _ = run_in_process(service, {"date": day.isoformat()})
    seconds = time.perf_counter() - started
    digest_items: Counter[str] = Counter()
    for message in publisher.sent:
        for item in message.digest["items"]:
            digest_items[_canonical(message.digest["clinic_id"], item)] += 1
    by_operation = dict(repository.capacity.by_operation)
    for operation, units in outbox.inner.capacity.by_operation.items():
        by_operation[operation] = by_operation.get(operation, 0.0) + units
    reads = {op: units for op, units in by_operation.items() if op in _READ_OPERATIONS}
    writes = {op: units for op, units in by_operation.items() if op not in _READ_OPERATIONS}
    return SweepRun(
        seconds=seconds,
        read_units=repository.capacity.read_units + outbox.inner.capacity.read_units,
        write_units=repository.capacity.write_units + outbox.inner.capacity.write_units,
        index_rows=sum(r.index_rows for r in reports),
        due=sum(r.examined for r in reports),
        notices=outbox.queued,
        digest_items=digest_items,
        reads_by_operation=reads,
        writes_by_operation=writes,
        index_writes=dict(repository.capacity.by_index),
    )


_READ_OPERATIONS = ("list_clinics", "due_patients", "get_patient", "outbox_pending")
"""Operations that only read; every other one's units are writes (the repository meters both kinds apart, and
``record_sweep``'s own clinic read, when it needs one, is counted as a read under its name)."""


# ---- the scan ----------------------------------------------------------------------------------------------------
@dataclass
class ScanRun:
    seconds: float
    read_units: float
    items: int
    patients: int
    notices: set[NoticeId] = field(default_factory=set)
    digest_items: Counter[str] = field(default_factory=Counter)


def scan_sweep(db: LocalDynamo, table: str, day: date) -> ScanRun:
    """Every item of the table (Scan, eventually consistent: the cheaper kind), every record rebuilt, the
    engine asked for each patient's notices on ``day``. Reads only: the notices are returned, not stored."""
    client = db.new_client()
    run = ScanRun(seconds=0.0, read_units=0.0, items=0, patients=0)
    labels: dict[str, Label] = {}
    records: list[StoredPatient] = []
    done: set[str] = set()
    group: list[dict[str, Any]] = []
    group_pk: str | None = None

    def finish() -> None:
        if group_pk is None:
            return
        if group_pk in done:
            raise RuntimeError(f"the scan returned {group_pk} in two runs: records would be split")
        done.add(group_pk)
        if group_pk == keys.CLINIC_PK:
            clinics = [clinic_from_item(raw).clinic for raw in group]
            labels.update((clinic.clinic_id, clinic.label) for clinic in clinics)
        elif group_pk.startswith("PATIENT#"):
            stored = patient_from_items(sorted(group, key=_by_sk))
            if stored is not None:
                records.append(stored)

    started = time.perf_counter()
    request: dict[str, Any] = {"TableName": table, "ReturnConsumedCapacity": "TOTAL"}
    while True:
        page = client.scan(**request)
        run.read_units += float((page.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))
        for raw in page.get("Items", []):
            run.items += 1
            pk = raw["pk"]["S"]
            if pk != group_pk:
                finish()
                group, group_pk = [], pk
            group.append(raw)
        # Records are decided a page at a time, so memory stays bounded by a page and its records.
        _decide(records, labels, day, run)
        records.clear()
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    finish()
    _decide(records, labels, day, run)
    run.seconds = time.perf_counter() - started
    return run


def _by_sk(raw: dict[str, Any]) -> str:
    return str(raw["sk"]["S"])


def _decide(records: list[StoredPatient], labels: dict[str, Label], day: date, run: ScanRun) -> None:
    for stored in records:
        run.patients += 1
        clinic_id = stored.clinic_id
        label = labels.get(clinic_id, Label.US)
        for notice in _RULES.notices_due(stored.record, day, stored.sent_notices, label):
            run.notices.add((clinic_id, stored.patient_id, notice.key))
            run.digest_items[_canonical(clinic_id, notice.to_digest_item())] += 1


# ---- one measurement ---------------------------------------------------------------------------------------------
@dataclass
class Measurement:
    enrolled: int
    day: date
    sweep: SweepRun
    scan: ScanRun

    @property
    def read_ratio(self) -> float:
        return self.scan.read_units / self.sweep.read_units if self.sweep.read_units else float("inf")

    @property
    def time_ratio(self) -> float:
        return self.scan.seconds / self.sweep.seconds if self.sweep.seconds else float("inf")

    @property
    def reads_per_due(self) -> float:
        return self.sweep.read_units / self.sweep.due if self.sweep.due else float("nan")

    @property
    def writes_per_due(self) -> float:
        """Every write unit of the night (workers and publish) per due patient: DESIGN 8's goal is at most 4."""
        return self.sweep.write_units / self.sweep.due if self.sweep.due else float("nan")

    @property
    def writes_per_notice(self) -> float:
        return self.sweep.write_units / len(self.sweep.notices) if self.sweep.notices else float("nan")

    @property
    def record_reads_per_due(self) -> float:
        """What reading the due records cost, per due patient (the rest of the sweep's reads are per run)."""
        records = self.sweep.reads_by_operation.get("get_patient", 0.0)
        return records / self.sweep.due if self.sweep.due else float("nan")


def measure(db: LocalDynamo, table: str, enrolled: int, day: date) -> Measurement:
    """The sweep for ``day - 1`` (not measured), then the scan and the real sweep for ``day``; notices compared."""
    real_sweep(db, table, day - timedelta(days=1))
    scan = scan_sweep(db, table, day)
    sweep = real_sweep(db, table, day)
    if scan.patients != enrolled:
        raise AssertionError(f"the scan rebuilt {scan.patients} records, {enrolled} are enrolled")
    if sweep.notices != scan.notices:
        missing, extra = scan.notices - sweep.notices, sweep.notices - scan.notices
        raise AssertionError(f"notices differ: {len(missing)} only from the scan, {len(extra)} only from the sweep")
    if sweep.digest_items != scan.digest_items:
        raise AssertionError("the digests' items differ from the scan's notices")
    return Measurement(enrolled=enrolled, day=day, sweep=sweep, scan=scan)


# ---- experiments -------------------------------------------------------------------------------------------------
def cost_by_size(db: LocalDynamo, sizes: Sequence[int], seed: int = 11, log: Any = None) -> list[Measurement]:
    """One table growing through ``sizes`` (realistic patients, so due patients grow with it); each size is
    measured on the next date, after a day-before sweep, so every measurement starts from a steady state."""
    table = db.regimen_table("bench-size")
    save_clinics(db, table)
    results: list[Measurement] = []
    stream = records(seed)
    loaded = 0
    try:
        for stage, size in enumerate(sorted(sizes)):
            day = TARGET + timedelta(days=stage)
            settle_on = day - timedelta(days=2)
            # Patients added at this stage join settled two days before its date, like the first ones.
            report = load(db, table, (settled(record, settle_on) for record in islice(stream, size - loaded)))
            loaded += report.patients
            _note(log, f"  loaded {report.patients} patients ({report.items} items) in {report.seconds:.0f} s")
            results.append(measure(db, table, loaded, day))
            _note(log, "  " + row(results[-1]))
            _note(log, "  " + writes_line(results[-1]))
    finally:
        db.drop(table)
    return results


def cost_growth(
    db: LocalDynamo, base: int, factors: Sequence[int], *, due: int = 20, seed: int = 23, log: Any = None
) -> list[Measurement]:
    """``base`` patients of which ``due`` owe something on ``TARGET`` (the rest owe nothing through it), then only
    quiet patients added up to ``factor * base`` enrolled. Asserts that every factor's sweep found the same due
    patients and queued the same notices (each also matched key by key against its scan by ``measure``)."""
    results: list[Measurement] = []
    settle_on = TARGET - timedelta(days=2)
    for factor in sorted(factors):
        table = db.regimen_table("bench-growth")
        try:
            save_clinics(db, table)
            fixed = due_and_quiet(base, due, seed, settle_on, TARGET)
            quiet = population(base * (factor - 1), seed + 1, settle_on, quiet_through=TARGET)
            report = load(db, table, _chain(fixed, quiet))
            _note(log, f"  {factor}x: loaded {report.patients} patients ({report.items} items), {report.seconds:.0f} s")
            results.append(measure(db, table, report.patients, TARGET))
            _note(log, "  " + row(results[-1]))
            _note(log, "  " + writes_line(results[-1]))
        finally:
            db.drop(table)
    first = results[0]
    due_ids = due_patients(first)
    if len(due_ids) != due or first.sweep.due != due:
        raise AssertionError(f"{due} patients were chosen to be due, the sweep examined {first.sweep.due}")
    for m in results[1:]:
        if due_patients(m) != due_ids or m.sweep.due != first.sweep.due:
            raise AssertionError(f"the due patients at {m.enrolled:,} enrolled differ from those at {first.enrolled:,}")
        if m.sweep.notices != first.sweep.notices:
            raise AssertionError(f"the notices at {m.enrolled:,} enrolled differ from those at {first.enrolled:,}")
    return results


def due_patients(m: Measurement) -> set[tuple[str, str]]:
    """(clinic, patient) of every patient the sweep queued a notice for."""
    return {(clinic, patient) for clinic, patient, _ in m.sweep.notices}


def _chain(*streams: Iterable[StoredPatient]) -> Iterator[StoredPatient]:
    for stream in streams:
        yield from stream


def _note(log: Any, text: str) -> None:
    if log is not None:
        print(text, file=log, flush=True)


# ---- printing ----------------------------------------------------------------------------------------------------
HEADER = (
    f"{'enrolled':>9} {'due':>6} {'notices':>8} | {'sweep RCU':>10} {'RCU/due':>8} {'sweep WCU':>10} "
    f"{'WCU/due':>8} {'WCU/notice':>10} {'sweep s':>8} | "
    f"{'scan RCU':>10} {'scan s':>8} | {'RCU ratio':>9} {'time ratio':>10}"
)


def row(m: Measurement) -> str:
    return (
        f"{m.enrolled:>9,} {m.sweep.due:>6,} {len(m.sweep.notices):>8,} | {m.sweep.read_units:>10,.1f} "
        f"{m.reads_per_due:>8.2f} {m.sweep.write_units:>10,.1f} {m.writes_per_due:>8.2f} {m.writes_per_notice:>10.2f} "
        f"{m.sweep.seconds:>8.1f} | {m.scan.read_units:>10,.1f} {m.scan.seconds:>8.1f} | "
        f"{m.read_ratio:>8.1f}x {m.time_ratio:>9.1f}x"
    )


def writes_line(m: Measurement) -> str:
    """Where the night's write units went, by operation."""
    parts = ", ".join(f"{op} {units:,.1f}" for op, units in sorted(m.sweep.writes_by_operation.items()))
    indexes = ", ".join(f"{name} {units:,.1f}" for name, units in sorted(m.sweep.index_writes.items()))
    return f"write units by operation: {parts or 'none'}; of them, index writes: {indexes or 'none'}"


def table(results: Sequence[Measurement]) -> str:
    return "\n".join([HEADER, *(row(m) for m in results)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,2000")
    parser.add_argument("--growth-base", type=int, default=120)
    parser.add_argument("--growth-due", type=int, default=20)
    parser.add_argument("--factors", default="1,10")
    args = parser.parse_args(argv)
    with local_dynamodb() as db:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        print(table(cost_by_size(db, sizes, log=sys.stderr)))
        factors = [int(f) for f in args.factors.split(",") if f]
        print(table(cost_growth(db, args.growth_base, factors, due=args.growth_due, log=sys.stderr)))


if __name__ == "__main__":
    main()
