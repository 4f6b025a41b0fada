"""The patient repository on one DynamoDB table (PynamoDB): one Query per record, one transaction per write.

One wide PynamoDB model, ``RegimenItem``, describes the profile, infusion, audit and clinic items of the single
table (an item only carries the attributes of its kind; PynamoDB stores no attribute for None). Non-key attributes
have short stored names to keep items small, because the sweep's cost is the size of the records it reads.
Results and notice marks are packed (``RESULTS#<year>``: one attribute per result; ``NOTICES``: one attribute per
mark), so their attribute names are data and those two items are read and written as raw DynamoDB maps;
docs/ARCHITECTURE.md lists the layout.
Reads go through the model's low-level connection so every response's ``ConsumedCapacity`` is counted in
``CapacityMeter``; benchmarks read it from ``repository.capacity``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from lemtrada.regimen.records import (
    Clinic,
    Contraindication,
    Deviation,
    Diagnosis,
    Enrollment,
    Infusion,
    InfusionRoute,
    Label,
    PatientProfile,
    PatientRecord,
    PregnancyEpisode,
    Result,
    ResultItem,
    Severity,
    Sex,
)
from lemtrada.storage import keys
from lemtrada.storage.memory import check_transaction_size, sweep_audit
from lemtrada.storage.repository import (
    AlreadyExists,
    AuditEntry,
    DueEntry,
    NoticeMark,
    NoticeStatus,
    PatientPage,
    StoredClinic,
    StoredPatient,
    VersionConflict,
)

DUE_INDEX = "DueIndex"
_SENT_PER_UPDATE = 50
"""Keys per ``mark_notices_sent`` UpdateItem: its condition names each one, and expressions are limited to 4 KB."""


def _error_code(error: Exception) -> str | None:
    code = getattr(error, "cause_response_code", None)
    if code is None and isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
    return None if code is None else str(code)


CLINIC_INDEX = "ClinicIndex"


# -- the model ---------------------------------------------------------------------------------------------
class PregnancyMap(MapAttribute[str, Any]):
    reported_on = UnicodeAttribute(attr_name="r")
    ended_on = UnicodeAttribute(attr_name="e", null=True)


class DeviationMap(MapAttribute[str, Any]):
    code = UnicodeAttribute(attr_name="c")
    severity = UnicodeAttribute(attr_name="s")
    detail = UnicodeAttribute(attr_name="t", null=True)


class DueIndex(GlobalSecondaryIndex["RegimenItem"]):  # type: ignore[no-untyped-call]
    """Sparse and write-sharded: only profiles that still owe a notice carry ``due_shard``/``next_check``."""

    class Meta:
        index_name = DUE_INDEX
        projection = IncludeProjection(["clinic_id"])

    due_shard = UnicodeAttribute(hash_key=True)
    next_check = UnicodeAttribute(range_key=True)


class ClinicIndex(GlobalSecondaryIndex["RegimenItem"]):  # type: ignore[no-untyped-call]
    """Sparse: ``clinic_key`` sits on patient profiles only."""

    class Meta:
        index_name = CLINIC_INDEX
        projection = AllProjection()

    clinic_key = UnicodeAttribute(hash_key=True)
    patient_id = UnicodeAttribute(range_key=True)


class RegimenItem(Model):
    """Every item kind of the table; which attributes an item carries depends on its sort key."""

    class Meta:
        table_name = "RegimenTable"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    # profile and clinic
    version = NumberAttribute(null=True)
    # profile (long names: index keys and projections)
    patient_id = UnicodeAttribute(null=True)
    clinic_id = UnicodeAttribute(null=True)  # also on notice marks
    clinic_key = UnicodeAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)
    next_check = UnicodeAttribute(null=True)
    due_index = DueIndex()
    clinic_index = ClinicIndex()
    # profile (short names)
    enrolled_at = UnicodeAttribute(attr_name="ea", null=True)
    patient_sub = UnicodeAttribute(attr_name="sub", null=True)
    external_ref = UnicodeAttribute(attr_name="xr", null=True)
    swept_through = UnicodeAttribute(attr_name="sw", null=True)
    birth_date = UnicodeAttribute(attr_name="bd", null=True)
    sex = UnicodeAttribute(attr_name="sx", null=True)
    reproductive_potential = BooleanAttribute(attr_name="rp", null=True)
    diagnosis = UnicodeAttribute(attr_name="dx", null=True)
    prior_dmt_count = NumberAttribute(attr_name="pdc", null=True)
    contraindications = ListAttribute[str](attr_name="ci", null=True)
    enrolled_on = UnicodeAttribute(attr_name="eo", null=True)
    justification = UnicodeAttribute(attr_name="jx", null=True)
    warnings = ListAttribute[str](attr_name="wn", null=True)
    pregnancies = ListAttribute[PregnancyMap](attr_name="pg", of=PregnancyMap, null=True)
    active_infection = BooleanAttribute(attr_name="ai", null=True)
    withdrawn_on = UnicodeAttribute(attr_name="wo", null=True)
    # infusion (date in the sort key)
    dose_mg = NumberAttribute(attr_name="mg", null=True)
    diluted_at = UnicodeAttribute(attr_name="dil", null=True)
    started_at = UnicodeAttribute(attr_name="st", null=True)
    ended_at = UnicodeAttribute(attr_name="en", null=True)
    route = UnicodeAttribute(attr_name="rt", null=True)
    co_infused = BooleanAttribute(attr_name="co", null=True)
    methylprednisolone_mg = NumberAttribute(attr_name="mp", null=True)
    antiviral_prophylaxis = BooleanAttribute(attr_name="av", null=True)
    course = NumberAttribute(attr_name="c", null=True)
    day = NumberAttribute(attr_name="d", null=True)
    observation_minutes = NumberAttribute(attr_name="om", null=True)
    batch_number = UnicodeAttribute(attr_name="bn", null=True)
    deviations = ListAttribute[DeviationMap](attr_name="dv", of=DeviationMap, null=True)
    # audit entry
    actor_sub = UnicodeAttribute(attr_name="as", null=True)
    actor_role = UnicodeAttribute(attr_name="ar", null=True)
    at = UnicodeAttribute(attr_name="at", null=True)
    action = UnicodeAttribute(attr_name="ac", null=True)
    target = UnicodeAttribute(attr_name="tg", null=True)
    # clinic
    name = UnicodeAttribute(attr_name="nm", null=True)
    timezone = UnicodeAttribute(attr_name="tz", null=True)
    label = UnicodeAttribute(attr_name="lb", null=True)


PROFILE_BODY = (
    "patient_id",
    "clinic_id",
    "clinic_key",
    "birth_date",
    "sex",
    "reproductive_potential",
    "diagnosis",
    "prior_dmt_count",
    "contraindications",
    "enrolled_on",
    "justification",
    "warnings",
    "pregnancies",
    "active_infection",
    "withdrawn_on",
)
"""The profile attributes update_profile rewrites (enrolment metadata, version and due keys are kept apart)."""

_BOUND: dict[tuple[str, str | None, str], type[RegimenItem]] = {}
_BOUND_LOCK = threading.Lock()


def bind_model(table_name: str, host: str | None, region: str) -> type[RegimenItem]:
    """A RegimenItem subclass pointed at one table and endpoint; cached so one process keeps one client."""
    key = (table_name, host, region)
    with _BOUND_LOCK:
        bound = _BOUND.get(key)
        if bound is None:
            meta = type("Meta", (), {"table_name": table_name, "host": host, "region": region})
            bound = type(f"RegimenItem_{len(_BOUND)}", (RegimenItem,), {"Meta": meta})
            _BOUND[key] = bound
        return bound


# -- codec: domain records <-> items ----------------------------------------------------------------------
def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _req_day(text: str | None) -> date:
    if text is None:
        raise ValueError("stored item lacks a required date")
    return date.fromisoformat(text)


def _req_time(text: str | None) -> datetime:
    if text is None:
        raise ValueError("stored item lacks a required time")
    return datetime.fromisoformat(text)


def _req(value: Any, what: str) -> Any:
    if value is None:
        raise ValueError(f"stored item lacks {what}")
    return value


def profile_item(model: type[RegimenItem], patient: StoredPatient, version: int, shards: int) -> RegimenItem:
    profile = patient.record.profile
    item = model(keys.patient_pk(profile.patient_id), keys.PROFILE)
    item.version = version
    item.patient_id = profile.patient_id
    item.clinic_id = profile.clinic_id
    item.clinic_key = keys.clinic_key(profile.clinic_id)
    if patient.next_check is not None:
        item.due_shard = keys.due_shard_key(keys.due_shard_number(profile.patient_id, shards))
        item.next_check = patient.next_check.isoformat()
    item.enrolled_at = patient.enrolled_at.isoformat()
    item.patient_sub = patient.patient_sub
    item.external_ref = patient.external_ref
    item.swept_through = _iso(patient.swept_through)
    _fill_profile_body(item, profile)
    return item


def _fill_profile_body(item: RegimenItem, profile: PatientProfile) -> None:
    enrollment = profile.enrollment
    item.patient_id = profile.patient_id
    item.clinic_id = profile.clinic_id
    item.clinic_key = keys.clinic_key(profile.clinic_id)
    item.birth_date = enrollment.birth_date.isoformat()
    item.sex = enrollment.sex.value
    item.reproductive_potential = enrollment.reproductive_potential
    item.diagnosis = enrollment.diagnosis.value
    item.prior_dmt_count = enrollment.prior_dmt_count
    item.contraindications = sorted(c.value for c in enrollment.contraindications) or None
    item.enrolled_on = enrollment.enrolled_on.isoformat()
    item.justification = enrollment.justification
    item.warnings = list(profile.warnings) or None
    item.pregnancies = [
        PregnancyMap(reported_on=episode.reported_on.isoformat(), ended_on=_iso(episode.ended_on))  # type: ignore[no-untyped-call]
        for episode in profile.pregnancies
    ] or None
    item.active_infection = profile.active_infection
    item.withdrawn_on = _iso(profile.withdrawn_on)


def profile_from_item(item: RegimenItem) -> PatientProfile:
    enrollment = Enrollment(
        birth_date=_req_day(item.birth_date),
        sex=Sex(_req(item.sex, "sex")),
        reproductive_potential=bool(_req(item.reproductive_potential, "reproductive_potential")),
        diagnosis=Diagnosis(_req(item.diagnosis, "diagnosis")),
        prior_dmt_count=int(_req(item.prior_dmt_count, "prior_dmt_count")),
        contraindications=frozenset(Contraindication(c) for c in item.contraindications or ()),
        enrolled_on=_req_day(item.enrolled_on),
        justification=item.justification,
    )
    return PatientProfile(
        patient_id=_req(item.patient_id, "patient_id"),
        clinic_id=_req(item.clinic_id, "clinic_id"),
        enrollment=enrollment,
        warnings=tuple(item.warnings or ()),
        pregnancies=tuple(
            PregnancyEpisode(reported_on=_req_day(p.reported_on), ended_on=_day(p.ended_on))
            for p in item.pregnancies or ()
        ),
        active_infection=bool(item.active_infection),
        withdrawn_on=_day(item.withdrawn_on),
    )


def infusion_item(model: type[RegimenItem], patient_id: str, infusion: Infusion) -> RegimenItem:
    item = model(keys.patient_pk(patient_id), keys.infusion_sk(infusion.date))
    item.dose_mg = infusion.dose_mg
    item.diluted_at = infusion.diluted_at.isoformat()
    item.started_at = infusion.started_at.isoformat()
    item.ended_at = infusion.ended_at.isoformat()
    item.route = infusion.route.value
    item.co_infused = infusion.co_infused
    item.methylprednisolone_mg = infusion.methylprednisolone_mg
    item.antiviral_prophylaxis = infusion.antiviral_prophylaxis
    item.course = infusion.course
    item.day = infusion.day
    item.observation_minutes = infusion.observation_minutes
    item.batch_number = infusion.batch_number
    item.deviations = [
        DeviationMap(code=d.code, severity=d.severity.value, detail=d.detail)  # type: ignore[no-untyped-call]
        for d in infusion.deviations
    ] or None
    return item


def infusion_from_item(item: RegimenItem) -> Infusion:
    return Infusion(
        date=date.fromisoformat(item.sk.removeprefix(keys.INFUSION_PREFIX)),
        dose_mg=float(_req(item.dose_mg, "dose_mg")),
        diluted_at=_req_time(item.diluted_at),
        started_at=_req_time(item.started_at),
        ended_at=_req_time(item.ended_at),
        route=InfusionRoute(_req(item.route, "route")),
        co_infused=bool(item.co_infused),
        methylprednisolone_mg=float(_req(item.methylprednisolone_mg, "methylprednisolone_mg")),
        antiviral_prophylaxis=bool(item.antiviral_prophylaxis),
        course=int(_req(item.course, "course")),
        day=int(_req(item.day, "day")),
        observation_minutes=None if item.observation_minutes is None else int(item.observation_minutes),
        batch_number=item.batch_number,
        deviations=tuple(
            Deviation(code=d.code, severity=Severity(d.severity), detail=d.detail) for d in item.deviations or ()
        ),
    )


Raw = dict[str, Any]
"""One item as DynamoDB's wire format has it: attribute name -> typed value (``{"S": "..."}``)."""

_KEY_NAMES = frozenset({"pk", "sk"})


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def result_entry(result: Result) -> str:
    """A result's value in its year's item: ``item|value|unit|status`` with trailing empty fields cut; a unit or
    status that is empty or holds ``|`` makes it a JSON list instead (an item code never starts with ``[``)."""
    texts = (result.unit, result.status)
    if any(text is not None and (not text or "|" in text) for text in texts):
        return json.dumps([result.item.value, result.value, result.unit, result.status], separators=(",", ":"))
    return "|".join((result.item.value, _number(result.value), result.unit or "", result.status or "")).rstrip("|")


def result_from_entry(day: date, result_id: str, entry: str) -> Result:
    if entry.startswith("["):
        item, value, unit, status = json.loads(entry)
    else:
        item, value, unit, status = (*entry.split("|"), "", "", "")[:4]
        value, unit, status = (float(value) if value else None), (unit or None), (status or None)
    return Result(
        result_id=result_id,
        item=ResultItem(item),
        date=day,
        value=None if value is None else float(value),
        unit=unit,
        status=status,
    )


def results_items(patient_id: str, results: Sequence[Result]) -> list[Raw]:
    """A patient's results as one item per calendar year, each result one attribute (``MMDD<id>``)."""
    by_year: dict[int, Raw] = {}
    for result in results:
        item = by_year.setdefault(
            result.date.year,
            {"pk": {"S": keys.patient_pk(patient_id)}, "sk": {"S": keys.results_sk(result.date.year)}},
        )
        item[keys.result_name(result.date, result.result_id)] = {"S": result_entry(result)}
    return [by_year[year] for year in sorted(by_year)]


def results_from_item(raw: Raw) -> list[Result]:
    year = int(raw["sk"]["S"].removeprefix(keys.RESULTS_PREFIX))
    out = []
    for name, value in raw.items():
        if name not in _KEY_NAMES:
            day, result_id = keys.result_day_and_id(year, name)
            out.append(result_from_entry(day, result_id, value["S"]))
    return out


def mark_value(on: date, clinic_id: str) -> str:
    """A notice mark's value: the sweep's date (``YYYYMMDD``) then the clinic it was owed to."""
    return f"{on.year:04d}{on.month:02d}{on.day:02d}{clinic_id}"


def notices_item(patient_id: str, marks: Sequence[NoticeMark]) -> Raw | None:
    """A patient's notice marks as one item: an attribute per mark (its key without the patient id), and the
    string set ``sent`` of the delivered ones."""
    if not marks:
        return None
    item: Raw = {"pk": {"S": keys.patient_pk(patient_id)}, "sk": {"S": keys.NOTICES}}
    sent = []
    for mark in marks:
        name = keys.notice_name(patient_id, mark.key)
        item[name] = {"S": mark_value(mark.on, mark.clinic_id)}
        if mark.status is NoticeStatus.SENT:
            sent.append(name)
    if sent:
        item[keys.SENT_NOTICES] = {"SS": sorted(sent)}
    return item


def marks_from_item(patient_id: str, raw: Raw) -> list[NoticeMark]:
    sent = set(raw.get(keys.SENT_NOTICES, {}).get("SS", ()))
    marks = []
    for name, value in raw.items():
        if name in _KEY_NAMES or name == keys.SENT_NOTICES:
            continue
        text = value["S"]
        marks.append(
            NoticeMark(
                key=keys.notice_key(patient_id, name),
                status=NoticeStatus.SENT if name in sent else NoticeStatus.PENDING,
                on=date(int(text[:4]), int(text[4:6]), int(text[6:8])),
                clinic_id=text[8:],
            )
        )
    return sorted(marks, key=lambda mark: mark.key)


def audit_item(model: type[RegimenItem], pk: str, entry: AuditEntry) -> RegimenItem:
    item = model(pk, keys.audit_sk(entry.at))
    item.actor_sub = entry.actor_sub
    item.actor_role = entry.actor_role
    item.at = entry.at.isoformat()
    item.action = entry.action
    item.target = entry.target
    return item


def audit_from_item(item: RegimenItem) -> AuditEntry:
    return AuditEntry(
        actor_sub=_req(item.actor_sub, "actor_sub"),
        actor_role=_req(item.actor_role, "actor_role"),
        at=_req_time(item.at),
        action=_req(item.action, "action"),
        target=_req(item.target, "target"),
    )


def clinic_item(model: type[RegimenItem], clinic: Clinic, version: int) -> RegimenItem:
    item = model(keys.CLINIC_PK, clinic.clinic_id)
    item.name = clinic.name
    item.timezone = clinic.timezone
    item.label = clinic.label.value
    item.version = version
    return item


def clinic_from_item(item: RegimenItem) -> StoredClinic:
    clinic = Clinic(
        clinic_id=item.sk,
        name=_req(item.name, "name"),
        timezone=_req(item.timezone, "timezone"),
        label=Label(_req(item.label, "label")),
    )
    return StoredClinic(clinic=clinic, version=int(_req(item.version, "version")))


def patient_items(model: type[RegimenItem], patient: StoredPatient, shards: int) -> list[Raw]:
    """The items a stored patient is made of, raw (profile first, infusions, results by year, notice marks as
    pending on ``swept_through``)."""
    pid = patient.patient_id
    items: list[Raw] = [profile_item(model, patient, patient.version, shards).serialize()]
    items += [infusion_item(model, pid, infusion).serialize() for infusion in patient.record.infusions]
    items += results_items(pid, patient.record.results)
    on = patient.swept_through or date.min
    marks = [NoticeMark(key, NoticeStatus.PENDING, on, patient.clinic_id) for key in sorted(patient.sent_notices)]
    notices = notices_item(pid, marks)
    if notices is not None:
        items.append(notices)
    return items


def patient_from_items(model: type[RegimenItem], items: Sequence[Raw]) -> StoredPatient | None:
    """Assemble a record from one Query's raw items (infusions come in sort-key order, results are sorted)."""
    profile: RegimenItem | None = None
    infusions: list[Infusion] = []
    results: list[Result] = []
    notices: set[str] = set()
    for raw in items:
        sk = raw["sk"]["S"]
        if sk == keys.PROFILE:
            profile = model.from_raw_data(raw)
        elif sk.startswith(keys.INFUSION_PREFIX):
            infusions.append(infusion_from_item(model.from_raw_data(raw)))
        elif sk.startswith(keys.RESULTS_PREFIX):
            results += results_from_item(raw)
        elif sk == keys.NOTICES:
            pid = raw["pk"]["S"].removeprefix(keys.patient_pk(""))
            notices.update(
                keys.notice_key(pid, name) for name in raw if name not in _KEY_NAMES and name != keys.SENT_NOTICES
            )
    if profile is None:
        return None
    results.sort(key=lambda result: (result.date, result.result_id))
    record = PatientRecord(profile=profile_from_item(profile), infusions=tuple(infusions), results=tuple(results))
    return StoredPatient(
        record=record,
        version=int(_req(profile.version, "version")),
        enrolled_at=_req_time(profile.enrolled_at),
        patient_sub=profile.patient_sub,
        external_ref=profile.external_ref,
        next_check=_day(profile.next_check),
        swept_through=_day(profile.swept_through),
        sent_notices=frozenset(notices),
    )


# -- capacity ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class CapacityMeter:
    """Capacity units DynamoDB reported (ReturnConsumedCapacity=TOTAL), per operation name; thread-safe."""

    read_units: float = 0.0
    write_units: float = 0.0
    by_operation: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, operation: str, units: float, *, write: bool = False) -> None:
        with self._lock:
            if write:
                self.write_units += units
            else:
                self.read_units += units
            self.by_operation[operation] = self.by_operation.get(operation, 0.0) + units
            self.calls[operation] = self.calls.get(operation, 0) + 1

    def add_response(self, operation: str, response: dict[str, Any] | None, *, write: bool = False) -> None:
        consumed = (response or {}).get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        self.add(operation, sum(float(entry.get("CapacityUnits", 0.0)) for entry in entries), write=write)

    def reset(self) -> None:
        with self._lock:
            self.read_units = 0.0
            self.write_units = 0.0
            self.by_operation.clear()
            self.calls.clear()


# -- transactions ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Write:
    """One transaction being assembled as TransactWriteItems entries; ``labels`` follow the request's order
    (puts, then updates), which is the order of DynamoDB's cancellation reasons."""

    table: str
    puts: list[tuple[str, Raw]] = field(default_factory=list)
    updates: list[tuple[str, Raw]] = field(default_factory=list)

    def put(self, label: str, item: RegimenItem, condition: Condition | None = None) -> None:
        self.puts.append((label, item.get_save_kwargs_from_instance(condition=condition)))

    def put_raw(self, label: str, item: Raw, condition: str | None = None) -> None:
        entry: Raw = {"TableName": self.table, "Item": item}
        if condition is not None:
            entry["ConditionExpression"] = condition
        self.puts.append((label, entry))

    def update(self, label: str, item: RegimenItem, actions: list[Action], condition: Condition) -> None:
        self.updates.append((label, item.get_update_kwargs_from_instance(actions=actions, condition=condition)))

    def update_raw(self, label: str, key: tuple[str, str], expression: str, condition: str, values: Raw) -> None:
        """An update of the item ``key`` (pk, sk); ``values`` holds ExpressionAttributeNames under ``#``-keys and
        ExpressionAttributeValues under ``:``-keys."""
        pk, sk = key
        names = {k: v for k, v in values.items() if k.startswith("#")}
        values = {k: v for k, v in values.items() if k.startswith(":")}
        self.updates.append(
            (
                label,
                {
                    "TableName": self.table,
                    "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                },
            )
        )

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.puts] + [label for label, _ in self.updates]


def failure_from_reasons(labels: Sequence[str], codes: Sequence[str | None]) -> Exception | None:
    """Which domain error a cancelled transaction means: a duplicate wins over a stale version."""
    failed = [label for label, code in zip(labels, codes, strict=False) if code == "ConditionalCheckFailed"]
    for label in failed:
        if label != "version":
            return AlreadyExists(label)
    if failed:
        return VersionConflict("the record changed since it was read")
    if any(code == "TransactionConflict" for code in codes):
        return VersionConflict("a concurrent write to the same record")
    return None


# -- the repository -------------------------------------------------------------------------------------------
class DynamoPatientRepository:
    """PatientRepository on the single RegimenTable (see docs/ARCHITECTURE.md, "Item layout")."""

    def __init__(
        self,
        table_name: str | None = None,
        *,
        host: str | None = None,
        region: str | None = None,
        due_shards: int | None = None,
        consistent_reads: bool = True,
    ) -> None:
        table = table_name or os.environ.get("TABLE_NAME") or "RegimenTable"
        endpoint = host or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None
        where = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self._model = bind_model(table, endpoint, where)
        self._shards = due_shards if due_shards is not None else keys.due_shards_from_env()
        self._consistent = consistent_reads
        self.capacity = CapacityMeter()

    @property
    def model(self) -> type[RegimenItem]:
        return self._model

    @property
    def due_shards(self) -> int:
        return self._shards

    # -- low level -----------------------------------------------------------------------------------------
    def _pages(
        self,
        operation: str,
        hash_key: str,
        condition: Condition | None = None,
        *,
        index_name: str | None = None,
        limit: int | None = None,
        start: dict[str, Any] | None = None,
        consistent: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Query pages (raw responses), following LastEvaluatedKey, counting capacity per page."""
        connection = self._model._get_connection()
        while True:
            page = connection.query(
                hash_key,
                range_key_condition=condition,
                index_name=index_name,
                limit=limit,
                exclusive_start_key=start,
                consistent_read=consistent,
                return_consumed_capacity="TOTAL",
            )
            self.capacity.add_response(operation, page)
            yield page
            start = page.get("LastEvaluatedKey")
            if start is None or limit is not None:
                return

    def _raw_items(
        self, operation: str, hash_key: str, condition: Condition | None = None, *, consistent: bool | None = None
    ) -> list[Raw]:
        strong = self._consistent if consistent is None else consistent
        return [
            raw
            for page in self._pages(operation, hash_key, condition, consistent=strong)
            for raw in page.get("Items", [])
        ]

    def _items(self, operation: str, hash_key: str, condition: Condition | None = None) -> list[RegimenItem]:
        return [self._model.from_raw_data(raw) for raw in self._raw_items(operation, hash_key, condition)]

    def _commit(self, operation: str, write: _Write) -> None:
        check_transaction_size(len(write.puts) + len(write.updates))
        connection = self._model._get_connection().connection
        try:
            response = connection.transact_write_items(
                condition_check_items=[],
                delete_items=[],
                put_items=[entry for _, entry in write.puts],
                update_items=[entry for _, entry in write.updates],
                return_consumed_capacity="TOTAL",
            )
        except TransactWriteError as error:
            codes = [None if reason is None else reason.code for reason in error.cancellation_reasons]
            failure = failure_from_reasons(write.labels, codes)
            if failure is not None:
                raise failure from error
            raise
        self.capacity.add_response(operation, response, write=True)

    def _new_write(self) -> _Write:
        return _Write(table=self._model.Meta.table_name)

    def _profile_update(
        self, write: _Write, patient_id: str, expected_version: int, next_check: date | None, extra: list[Action]
    ) -> None:
        model = self._model
        actions: list[Action] = [model.version.set(expected_version + 1), *extra]
        if next_check is None:
            actions += [model.due_shard.remove(), model.next_check.remove()]
        else:
            shard = keys.due_shard_key(keys.due_shard_number(patient_id, self._shards))
            actions += [model.due_shard.set(shard), model.next_check.set(next_check.isoformat())]
        item = model(keys.patient_pk(patient_id), keys.PROFILE)
        write.update("version", item, actions, model.version == expected_version)

    # -- clinics -------------------------------------------------------------------------------------------
    def get_clinic(self, clinic_id: str) -> StoredClinic | None:
        response = self._model._get_connection().get_item(keys.CLINIC_PK, clinic_id, consistent_read=self._consistent)
        self.capacity.add_response("get_clinic", response)
        raw = response.get("Item")
        return None if raw is None else clinic_from_item(self._model.from_raw_data(raw))

    def list_clinics(self) -> tuple[StoredClinic, ...]:
        return tuple(clinic_from_item(item) for item in self._items("list_clinics", keys.CLINIC_PK))

    def save_clinic(self, clinic: Clinic, expected_version: int | None, audit: AuditEntry) -> int:
        model = self._model
        write = self._new_write()
        if expected_version is None:
            version = 1
            write.put("clinic", clinic_item(model, clinic, version), model.pk.does_not_exist())
        else:
            version = expected_version + 1
            write.put("version", clinic_item(model, clinic, version), model.version == expected_version)
        write.put("audit", audit_item(model, keys.clinic_key(clinic.clinic_id), audit))
        self._commit("save_clinic", write)
        return version

    def clinic_audit_trail(self, clinic_id: str) -> tuple[AuditEntry, ...]:
        condition = self._model.sk.startswith(keys.AUDIT_PREFIX)
        items = self._items("clinic_audit_trail", keys.clinic_key(clinic_id), condition)
        return tuple(audit_from_item(item) for item in items)

    # -- patients: reads -----------------------------------------------------------------------------------
    def get_patient(self, patient_id: str, *, consistent_read: bool = True) -> StoredPatient | None:
        condition = self._model.sk > keys.RECORD_AFTER
        consistent = self._consistent and consistent_read
        items = self._raw_items("get_patient", keys.patient_pk(patient_id), condition, consistent=consistent)
        return patient_from_items(self._model, items)

    def patient_id_for_user(self, sub: str) -> str | None:
        response = self._model._get_connection().get_item(
            keys.user_pk(sub), keys.LINK, consistent_read=self._consistent
        )
        self.capacity.add_response("patient_id_for_user", response)
        raw = response.get("Item")
        return None if raw is None else self._model.from_raw_data(raw).patient_id

    def list_clinic_patients(self, clinic_id: str, limit: int, cursor: str | None = None) -> PatientPage:
        """A page of the clinic's patients by id; each is then read whole (one Query per patient)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        start: dict[str, Any] | None = None
        if cursor is not None:
            after = keys.decode_cursor(clinic_id, cursor)
            start = {
                "clinic_key": {"S": keys.clinic_key(clinic_id)},
                "patient_id": {"S": after},
                "pk": {"S": keys.patient_pk(after)},
                "sk": {"S": keys.PROFILE},
            }
        page = next(
            self._pages(
                "list_clinic_patients",
                keys.clinic_key(clinic_id),
                index_name=CLINIC_INDEX,
                limit=limit + 1,
                start=start,
            )
        )
        ids = [raw["patient_id"]["S"] for raw in page.get("Items", [])]
        patients = tuple(p for p in (self.get_patient(pid) for pid in ids[:limit]) if p is not None)
        more = len(ids) > limit
        return PatientPage(patients=patients, cursor=keys.encode_cursor(clinic_id, ids[limit - 1]) if more else None)

    def audit_trail(self, patient_id: str) -> tuple[AuditEntry, ...]:
        condition = self._model.sk.startswith(keys.AUDIT_PREFIX)
        return tuple(audit_from_item(i) for i in self._items("audit_trail", keys.patient_pk(patient_id), condition))

    def notice_marks(self, patient_id: str) -> tuple[NoticeMark, ...]:
        response = self._model._get_connection().get_item(
            keys.patient_pk(patient_id), keys.NOTICES, consistent_read=self._consistent
        )
        self.capacity.add_response("notice_marks", response)
        raw = response.get("Item")
        return () if raw is None else tuple(marks_from_item(patient_id, raw))

    # -- patients: writes ----------------------------------------------------------------------------------
    def create_patient(self, patient: StoredPatient, audit: AuditEntry) -> None:
        model = self._model
        pid = patient.patient_id
        write = self._new_write()
        fresh = StoredPatient(
            record=patient.record,
            version=1,
            enrolled_at=patient.enrolled_at,
            patient_sub=patient.patient_sub,
            external_ref=patient.external_ref,
            next_check=patient.next_check,
            swept_through=patient.swept_through,
        )
        items = patient_items(model, fresh, self._shards)
        write.put_raw("patient", items[0], "attribute_not_exists(pk)")
        for item in items[1:]:
            write.put_raw("fact", item)
        if patient.patient_sub is not None:
            link = model(keys.user_pk(patient.patient_sub), keys.LINK)
            link.patient_id = pid
            write.put("patient_sub", link, model.pk.does_not_exist())
        write.put("audit", audit_item(model, keys.patient_pk(pid), audit))
        self._commit("create_patient", write)

    def update_profile(
        self, profile: PatientProfile, expected_version: int, next_check: date | None, audit: AuditEntry
    ) -> int:
        model = self._model
        body = model(keys.patient_pk(profile.patient_id), keys.PROFILE)
        _fill_profile_body(body, profile)
        actions: list[Action] = []
        for name in PROFILE_BODY:
            attribute = getattr(model, name)
            value = getattr(body, name)
            actions.append(attribute.remove() if value is None else attribute.set(value))
        write = self._new_write()
        self._profile_update(write, profile.patient_id, expected_version, next_check, actions)
        write.put("audit", audit_item(model, keys.patient_pk(profile.patient_id), audit))
        self._commit("update_profile", write)
        return expected_version + 1

    def add_infusion(
        self,
        patient_id: str,
        infusion: Infusion,
        expected_version: int,
        next_check: date | None,
        audit: AuditEntry,
    ) -> int:
        model = self._model
        write = self._new_write()
        write.put("infusion", infusion_item(model, patient_id, infusion), model.pk.does_not_exist())
        write.put("audit", audit_item(model, keys.patient_pk(patient_id), audit))
        self._profile_update(write, patient_id, expected_version, next_check, [])
        self._commit("add_infusion", write)
        return expected_version + 1

    def add_result(
        self, patient_id: str, result: Result, expected_version: int, next_check: date | None, audit: AuditEntry
    ) -> int:
        model = self._model
        write = self._new_write()
        write.update_raw(
            "result",
            (keys.patient_pk(patient_id), keys.results_sk(result.date.year)),
            "SET #r = :r",
            "attribute_not_exists(#r)",
            {"#r": keys.result_name(result.date, result.result_id), ":r": {"S": result_entry(result)}},
        )
        write.put("audit", audit_item(model, keys.patient_pk(patient_id), audit))
        self._profile_update(write, patient_id, expected_version, next_check, [])
        self._commit("add_result", write)
        return expected_version + 1

    # -- the sweep's view ----------------------------------------------------------------------------------
    def due_patients(self, shard: int, through: date) -> Iterator[DueEntry]:
        """Reads the DueIndex only: its items are the keys plus ``clinic_id``, a few dozen bytes each."""
        if not 0 <= shard < self._shards:
            raise ValueError(f"shard must be between 0 and {self._shards - 1}")
        condition = self._model.next_check <= through.isoformat()
        for page in self._pages("due_patients", keys.due_shard_key(shard), condition, index_name=DUE_INDEX):
            for raw in page.get("Items", []):
                yield DueEntry(
                    patient_id=raw["pk"]["S"].removeprefix("PATIENT#"),
                    clinic_id=raw["clinic_id"]["S"],
                    next_check=date.fromisoformat(raw["next_check"]["S"]),
                )

    def record_sweep(
        self,
        patient_id: str,
        on: date,
        notices: Sequence[str],
        expected_version: int,
        next_check: date | None,
        *,
        audit: AuditEntry | None = None,
        clinic_id: str | None = None,
    ) -> int:
        model = self._model
        unique = sorted(set(notices))
        # One attribute per key on the NOTICES item; the limit stays that of one mark per transaction item (the
        # sweep splits larger sets), which also keeps the condition expression under DynamoDB's 4 KB.
        check_transaction_size(2 + len(unique))
        write = self._new_write()
        if unique:
            current = clinic_id if clinic_id is not None else self._clinic_of(patient_id)
            names = {f"#{n}": keys.notice_name(patient_id, key) for n, key in enumerate(unique)}
            write.update_raw(
                "notice",
                (keys.patient_pk(patient_id), keys.NOTICES),
                "SET " + ", ".join(f"{placeholder} = :m" for placeholder in names),
                " AND ".join(f"attribute_not_exists({placeholder})" for placeholder in names),
                {**names, ":m": {"S": mark_value(on, current)}},
            )
        entry = audit if audit is not None else sweep_audit(on)
        write.put("audit", audit_item(model, keys.patient_pk(patient_id), entry))
        self._profile_update(write, patient_id, expected_version, next_check, [model.swept_through.set(on.isoformat())])
        self._commit("record_sweep", write)
        return expected_version + 1

    def mark_notices_sent(self, patient_id: str, notice_keys: Sequence[str]) -> None:
        """Adds the keys to the NOTICES item's ``sent`` set, up to 50 in one UpdateItem when each of them has a
        mark; otherwise key by key, skipping the unknown ones."""
        names = sorted({keys.notice_name(patient_id, key) for key in notice_keys})
        for start in range(0, len(names), _SENT_PER_UPDATE):
            chunk = names[start : start + _SENT_PER_UPDATE]
            if not self._add_sent(patient_id, chunk):
                for name in chunk:
                    self._add_sent(patient_id, [name])

    def _add_sent(self, patient_id: str, names: Sequence[str]) -> bool:
        placeholders = {f"#{n}": name for n, name in enumerate(names)}
        request = {
            "TableName": self._model.Meta.table_name,
            "Key": {"pk": {"S": keys.patient_pk(patient_id)}, "sk": {"S": keys.NOTICES}},
            "UpdateExpression": "ADD #sent :sent",
            "ConditionExpression": " AND ".join(f"attribute_exists({p})" for p in placeholders),
            "ExpressionAttributeNames": {"#sent": keys.SENT_NOTICES, **placeholders},
            "ExpressionAttributeValues": {":sent": {"SS": list(names)}},
            "ReturnConsumedCapacity": "TOTAL",
        }
        try:
            response = self._model._get_connection().connection.dispatch("UpdateItem", request)
        except (PynamoDBException, ClientError) as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        self.capacity.add_response("mark_notices_sent", response, write=True)
        return True

    def _clinic_of(self, patient_id: str) -> str:
        """The clinic a notice mark records when the caller did not pass it (one small GetItem)."""
        response = self._model._get_connection().get_item(
            keys.patient_pk(patient_id), keys.PROFILE, consistent_read=False, attributes_to_get=["clinic_id"]
        )
        self.capacity.add_response("record_sweep", response)
        raw = response.get("Item")
        if raw is None:
            raise VersionConflict(f"patient {patient_id} does not exist")
        return str(raw["clinic_id"]["S"])
