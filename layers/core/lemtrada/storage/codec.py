"""Domain records <-> DynamoDB items in the wire format (``{"S": ...}``), with the two packed item kinds.

Every function here is pure: no client, no table name. The attribute names come from storage.model; values are
encoded as DynamoDB's low-level API has them (numbers as JSON text, no attribute for None, empty lists omitted).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from lemtrada.regimen.records import (
    Analyte,
    Clinic,
    Contraindication,
    Deviation,
    Diagnosis,
    Enrollment,
    Infusion,
    InfusionRoute,
    Label,
    LabFinding,
    PatientProfile,
    PatientRecord,
    PregnancyEpisode,
    Result,
    ResultItem,
    Severity,
    Sex,
)
from lemtrada.regimen.safety import finding_id
from lemtrada.storage import keys
from lemtrada.storage.model import (
    KEY_NAMES,
    PK,
    SK,
    Audit,
    ClinicItem,
    DeviationMap,
    InfusionItem,
    Link,
    Pregnancy,
    Profile,
)
from lemtrada.storage.ports import (
    Acknowledgement,
    AuditEntry,
    NoticeMark,
    StoredClinic,
    StoredPatient,
    with_acknowledgements,
)

Raw = dict[str, Any]
"""One item as DynamoDB's wire format has it: attribute name -> typed value (``{"S": "..."}``)."""


# ---- values <-> wire ---------------------------------------------------------------------------------------
def wire(value: Any) -> Raw:
    """A Python value as a DynamoDB attribute value (str, bool, int, float, list and dict; None inside a map is
    left out)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float):
        return {"N": json.dumps(value)}
    if isinstance(value, list | tuple):
        return {"L": [wire(element) for element in value]}
    if isinstance(value, Mapping):
        return {"M": {name: wire(inner) for name, inner in value.items() if inner is not None}}
    raise TypeError(f"no DynamoDB encoding for {type(value).__name__}")


def python(value: Raw) -> Any:
    """A DynamoDB attribute value back as Python (numbers as int or float, as they were written)."""
    kind, inner = next(iter(value.items()))
    if kind in {"S", "BOOL"}:
        return inner
    if kind == "N":
        return json.loads(inner)
    if kind == "L":
        return [python(element) for element in inner]
    if kind == "M":
        return {name: python(element) for name, element in inner.items()}
    if kind == "SS":
        return set(inner)
    if kind == "NULL":
        return None
    raise TypeError(f"unexpected DynamoDB type {kind}")


def item_key(pk: str, sk: str) -> Raw:
    return {PK: {"S": pk}, SK: {"S": sk}}


def _item(pk: str, sk: str, attributes: Mapping[str, Any]) -> Raw:
    item = item_key(pk, sk)
    item.update({name: wire(value) for name, value in attributes.items() if value is not None})
    return item


def _get(raw: Raw, name: str) -> Any:
    value = raw.get(name)
    return None if value is None else python(value)


def _req(raw: Raw, name: str, what: str) -> Any:
    value = _get(raw, name)
    if value is None:
        raise ValueError(f"stored item lacks {what}")
    return value


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


# ---- profile -----------------------------------------------------------------------------------------------
def profile_body(profile: PatientProfile) -> dict[str, Any]:
    """The profile attributes a profile change rewrites (None: remove); enrolment metadata, version and due keys
    are kept apart."""
    enrollment = profile.enrollment
    return {
        Profile.patient_id: profile.patient_id,
        Profile.clinic_id: profile.clinic_id,
        Profile.clinic_key: keys.clinic_key(profile.clinic_id),
        Profile.birth_date: enrollment.birth_date.isoformat(),
        Profile.sex: enrollment.sex.value,
        Profile.reproductive_potential: enrollment.reproductive_potential,
        Profile.diagnosis: enrollment.diagnosis.value,
        Profile.prior_dmt_count: enrollment.prior_dmt_count,
        Profile.contraindications: sorted(c.value for c in enrollment.contraindications) or None,
        Profile.enrolled_on: enrollment.enrolled_on.isoformat(),
        Profile.justification: enrollment.justification,
        Profile.rapidly_evolving_severe: True if enrollment.rapidly_evolving_severe else None,
        Profile.warnings: list(profile.warnings) or None,
        Profile.pregnancies: [
            {Pregnancy.reported_on: episode.reported_on.isoformat(), Pregnancy.ended_on: _iso(episode.ended_on)}
            for episode in profile.pregnancies
        ]
        or None,
        Profile.active_infection: profile.active_infection,
        Profile.withdrawn_on: _iso(profile.withdrawn_on),
    }


def due_keys(patient_id: str, next_check: date | None, shards: int) -> dict[str, str | None]:
    """The sparse due index's keys of a profile (both None once nothing can change any more)."""
    if next_check is None:
        return {Profile.due_shard: None, Profile.next_check: None}
    shard = keys.due_shard_key(keys.due_shard_number(patient_id, shards))
    return {Profile.due_shard: shard, Profile.next_check: next_check.isoformat()}


def profile_item(patient: StoredPatient, version: int, shards: int) -> Raw:
    profile = patient.record.profile
    return _item(
        keys.patient_pk(profile.patient_id),
        keys.PROFILE,
        {
            Profile.version: version,
            **profile_body(profile),
            **due_keys(profile.patient_id, patient.next_check, shards),
            Profile.enrolled_at: patient.enrolled_at.isoformat(),
            Profile.patient_sub: patient.patient_sub,
            Profile.external_ref: patient.external_ref,
            Profile.swept_through: _iso(patient.swept_through),
        },
    )


def profile_from_item(raw: Raw) -> PatientProfile:
    enrollment = Enrollment(
        birth_date=date.fromisoformat(_req(raw, Profile.birth_date, "birth_date")),
        sex=Sex(_req(raw, Profile.sex, "sex")),
        reproductive_potential=bool(_req(raw, Profile.reproductive_potential, "reproductive_potential")),
        diagnosis=Diagnosis(_req(raw, Profile.diagnosis, "diagnosis")),
        prior_dmt_count=int(_req(raw, Profile.prior_dmt_count, "prior_dmt_count")),
        contraindications=frozenset(Contraindication(c) for c in _get(raw, Profile.contraindications) or ()),
        enrolled_on=date.fromisoformat(_req(raw, Profile.enrolled_on, "enrolled_on")),
        justification=_get(raw, Profile.justification),
        rapidly_evolving_severe=bool(_get(raw, Profile.rapidly_evolving_severe)),
    )
    return PatientProfile(
        patient_id=_req(raw, Profile.patient_id, "patient_id"),
        clinic_id=_req(raw, Profile.clinic_id, "clinic_id"),
        enrollment=enrollment,
        warnings=tuple(_get(raw, Profile.warnings) or ()),
        pregnancies=tuple(
            PregnancyEpisode(
                reported_on=date.fromisoformat(episode[Pregnancy.reported_on]),
                ended_on=_day(episode.get(Pregnancy.ended_on)),
            )
            for episode in _get(raw, Profile.pregnancies) or ()
        ),
        active_infection=bool(_get(raw, Profile.active_infection)),
        withdrawn_on=_day(_get(raw, Profile.withdrawn_on)),
    )


# ---- infusions ---------------------------------------------------------------------------------------------
def infusion_item(patient_id: str, infusion: Infusion) -> Raw:
    return _item(
        keys.patient_pk(patient_id),
        keys.infusion_sk(infusion.date),
        {
            InfusionItem.dose_mg: infusion.dose_mg,
            InfusionItem.diluted_at: infusion.diluted_at.isoformat(),
            InfusionItem.started_at: infusion.started_at.isoformat(),
            InfusionItem.ended_at: infusion.ended_at.isoformat(),
            InfusionItem.route: infusion.route.value,
            InfusionItem.co_infused: infusion.co_infused,
            InfusionItem.methylprednisolone_mg: infusion.methylprednisolone_mg,
            InfusionItem.antiviral_prophylaxis: infusion.antiviral_prophylaxis,
            InfusionItem.course: infusion.course,
            InfusionItem.day: infusion.day,
            InfusionItem.observation_minutes: infusion.observation_minutes,
            InfusionItem.batch_number: infusion.batch_number,
            InfusionItem.deviations: [
                {DeviationMap.code: d.code, DeviationMap.severity: d.severity.value, DeviationMap.detail: d.detail}
                for d in infusion.deviations
            ]
            or None,
        },
    )


def infusion_from_item(raw: Raw) -> Infusion:
    minutes = _get(raw, InfusionItem.observation_minutes)
    return Infusion(
        date=date.fromisoformat(raw[SK]["S"].removeprefix(keys.INFUSION_PREFIX)),
        dose_mg=float(_req(raw, InfusionItem.dose_mg, "dose_mg")),
        diluted_at=datetime.fromisoformat(_req(raw, InfusionItem.diluted_at, "diluted_at")),
        started_at=datetime.fromisoformat(_req(raw, InfusionItem.started_at, "started_at")),
        ended_at=datetime.fromisoformat(_req(raw, InfusionItem.ended_at, "ended_at")),
        route=InfusionRoute(_req(raw, InfusionItem.route, "route")),
        co_infused=bool(_get(raw, InfusionItem.co_infused)),
        methylprednisolone_mg=float(_req(raw, InfusionItem.methylprednisolone_mg, "methylprednisolone_mg")),
        antiviral_prophylaxis=bool(_get(raw, InfusionItem.antiviral_prophylaxis)),
        course=int(_req(raw, InfusionItem.course, "course")),
        day=int(_req(raw, InfusionItem.day, "day")),
        observation_minutes=None if minutes is None else int(minutes),
        batch_number=_get(raw, InfusionItem.batch_number),
        deviations=tuple(
            Deviation(
                code=d[DeviationMap.code],
                severity=Severity(d[DeviationMap.severity]),
                detail=d.get(DeviationMap.detail),
            )
            for d in _get(raw, InfusionItem.deviations) or ()
        ),
    )


# ---- results, packed: RESULTS#<year> holds one attribute per result ------------------------------------------
def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def result_entry(result: Result) -> str:
    """A result's value in its year's item.

    A result with analytes or findings is a JSON object (``{"i": item, "v", "u", "s", "a": [[code, value,
    unit, low, high]], "f": [[code, severity, detail, source]]}``, absent fields left out). Otherwise the round-1
    forms: ``item|value|unit|status`` with trailing empty fields cut, or a JSON list when a unit or status is
    empty or holds ``|``. An item code never starts with ``[`` or ``{``, so the three forms cannot be confused.
    ``acknowledged`` is not stored here: acknowledgements are items of their own.
    """
    if result.analytes or result.findings:
        body: dict[str, Any] = {"i": result.item.value}
        for name, value in (("v", result.value), ("u", result.unit), ("s", result.status)):
            if value is not None:
                body[name] = value
        if result.analytes:
            body["a"] = [_trimmed([a.code, a.value, a.unit, a.low, a.high]) for a in result.analytes]
        if result.findings:
            body["f"] = [[f.code, f.severity.value, f.detail, f.source] for f in result.findings]
        return json.dumps(body, separators=(",", ":"), allow_nan=False)
    texts = (result.unit, result.status)
    if any(text is not None and (not text or "|" in text) for text in texts):
        return json.dumps([result.item.value, result.value, result.unit, result.status], separators=(",", ":"))
    return "|".join((result.item.value, _number(result.value), result.unit or "", result.status or "")).rstrip("|")


def _trimmed(values: list[Any]) -> list[Any]:
    while values and values[-1] is None:
        values.pop()
    return values


def _analyte(values: Sequence[Any]) -> Analyte:
    code, value, unit, low, high = (*values, None, None)[:5]
    return Analyte(
        code=code,
        value=float(value),
        unit=unit,
        low=None if low is None else float(low),
        high=None if high is None else float(high),
    )


def result_from_entry(day: date, result_id: str, entry: str) -> Result:
    if entry.startswith("{"):
        body = json.loads(entry)
        return Result(
            result_id=result_id,
            item=ResultItem(body["i"]),
            date=day,
            value=None if body.get("v") is None else float(body["v"]),
            unit=body.get("u"),
            status=body.get("s"),
            analytes=tuple(_analyte(values) for values in body.get("a", ())),
            findings=tuple(
                LabFinding(
                    finding_id=finding_id(result_id, code),
                    result_id=result_id,
                    date=day,
                    code=code,
                    severity=Severity(severity),
                    detail=detail,
                    source=source,
                )
                for code, severity, detail, source in body.get("f", ())
            ),
        )
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
            result.date.year, item_key(keys.patient_pk(patient_id), keys.results_sk(result.date.year))
        )
        item[keys.result_name(result.date, result.result_id)] = {"S": result_entry(result)}
    return [by_year[year] for year in sorted(by_year)]


def results_from_item(raw: Raw) -> list[Result]:
    year = int(raw[SK]["S"].removeprefix(keys.RESULTS_PREFIX))
    out = []
    for name, value in raw.items():
        if name not in KEY_NAMES:
            day, result_id = keys.result_day_and_id(year, name)
            out.append(result_from_entry(day, result_id, value["S"]))
    return out


# ---- notice marks, packed: NOTICES holds one attribute per mark --------------------------------------------------
def mark_value(on: date, clinic_id: str) -> str:
    """A notice mark's value: the sweep's date (``YYYYMMDD``) then the clinic it was owed to."""
    return f"{on.year:04d}{on.month:02d}{on.day:02d}{clinic_id}"


LEGACY_SENT = "sent"
"""A string set older NOTICES items carry (the marks already delivered); nothing reads it, the outbox keeps that
state. It is skipped on read: no mark's name is ``sent`` (names start with ``o#``, ``m#``, ``d#`` or ``=``)."""


def _mark_names(raw: Raw) -> Iterable[str]:
    return (name for name in raw if name not in KEY_NAMES and name != LEGACY_SENT)


def notices_item(patient_id: str, marks: Sequence[NoticeMark]) -> Raw | None:
    """A patient's notice marks as one item: an attribute per mark (its key without the patient id)."""
    if not marks:
        return None
    item = item_key(keys.patient_pk(patient_id), keys.NOTICES)
    for mark in marks:
        item[keys.notice_name(patient_id, mark.key)] = {"S": mark_value(mark.on, mark.clinic_id)}
    return item


def marks_from_item(patient_id: str, raw: Raw) -> list[NoticeMark]:
    marks = []
    for name in _mark_names(raw):
        text = raw[name]["S"]
        marks.append(
            NoticeMark(
                key=keys.notice_key(patient_id, name),
                on=date(int(text[:4]), int(text[4:6]), int(text[6:8])),
                clinic_id=text[8:],
            )
        )
    return sorted(marks, key=lambda mark: mark.key)


# ---- acknowledgements, packed: REVIEWS holds one attribute per acknowledgement ----------------------------------
def acknowledgement_value(ack: Acknowledgement) -> str:
    """``[action, by, at]`` as JSON text (the attribute's name is the kind and ref)."""
    return json.dumps([ack.action, ack.by, ack.at.isoformat()], separators=(",", ":"))


def acknowledgements_from_item(raw: Raw) -> list[Acknowledgement]:
    out = []
    for name in raw:
        if name in KEY_NAMES:
            continue
        kind, ref = keys.acknowledgement_kind_and_ref(name)
        action, by, at = json.loads(raw[name]["S"])
        out.append(Acknowledgement(kind=kind, ref=ref, action=action, by=by, at=datetime.fromisoformat(at)))
    return sorted(out, key=lambda ack: (ack.kind, ack.ref))


def acknowledgements_item(patient_id: str, acks: Sequence[Acknowledgement]) -> Raw | None:
    if not acks:
        return None
    item = item_key(keys.patient_pk(patient_id), keys.REVIEWS)
    for ack in acks:
        item[keys.acknowledgement_name(ack.kind, ack.ref)] = {"S": acknowledgement_value(ack)}
    return item


# ---- audit, clinics, user links ------------------------------------------------------------------------------
def audit_item(pk: str, entry: AuditEntry) -> Raw:
    return _item(
        pk,
        keys.audit_sk(entry.at),
        {
            Audit.actor_sub: entry.actor_sub,
            Audit.actor_role: entry.actor_role,
            Audit.at: entry.at.isoformat(),
            Audit.action: entry.action,
            Audit.target: entry.target,
        },
    )


def audit_from_item(raw: Raw) -> AuditEntry:
    return AuditEntry(
        actor_sub=_req(raw, Audit.actor_sub, "actor_sub"),
        actor_role=_req(raw, Audit.actor_role, "actor_role"),
        at=datetime.fromisoformat(_req(raw, Audit.at, "at")),
        action=_req(raw, Audit.action, "action"),
        target=_req(raw, Audit.target, "target"),
    )


def clinic_item(clinic: Clinic, version: int) -> Raw:
    return _item(
        keys.CLINIC_PK,
        clinic.clinic_id,
        {
            ClinicItem.name: clinic.name,
            ClinicItem.timezone: clinic.timezone,
            ClinicItem.label: clinic.label.value,
            ClinicItem.version: version,
        },
    )


def clinic_from_item(raw: Raw) -> StoredClinic:
    clinic = Clinic(
        clinic_id=raw[SK]["S"],
        name=_req(raw, ClinicItem.name, "name"),
        timezone=_req(raw, ClinicItem.timezone, "timezone"),
        label=Label(_req(raw, ClinicItem.label, "label")),
    )
    return StoredClinic(clinic=clinic, version=int(_req(raw, ClinicItem.version, "version")))


def link_item(sub: str, patient_id: str) -> Raw:
    return _item(keys.user_pk(sub), keys.LINK, {Link.patient_id: patient_id})


def linked_patient(raw: Raw) -> str | None:
    return _get(raw, Link.patient_id)  # type: ignore[no-any-return]


# ---- a whole patient ---------------------------------------------------------------------------------------
def patient_items(patient: StoredPatient, shards: int) -> list[Raw]:
    """The items a stored patient is made of (profile first, infusions, results by year, notice marks dated
    ``swept_through``)."""
    pid = patient.patient_id
    items = [profile_item(patient, patient.version, shards)]
    items += [infusion_item(pid, infusion) for infusion in patient.record.infusions]
    items += results_items(pid, patient.record.results)
    on = patient.swept_through or date.min
    marks = [NoticeMark(key, on, patient.clinic_id) for key in sorted(patient.sent_notices)]
    notices = notices_item(pid, marks)
    if notices is not None:
        items.append(notices)
    reviews = acknowledgements_item(pid, patient.acknowledgements)
    if reviews is not None:
        items.append(reviews)
    return items


def patient_from_items(items: Sequence[Raw]) -> StoredPatient | None:
    """Assemble a record from one Query's items (infusions come in sort-key order, results are sorted)."""
    profile: Raw | None = None
    infusions: list[Infusion] = []
    results: list[Result] = []
    notices: set[str] = set()
    acks: list[Acknowledgement] = []
    for raw in items:
        sk = raw[SK]["S"]
        if sk == keys.PROFILE:
            profile = raw
        elif sk.startswith(keys.INFUSION_PREFIX):
            infusions.append(infusion_from_item(raw))
        elif sk.startswith(keys.RESULTS_PREFIX):
            results += results_from_item(raw)
        elif sk == keys.NOTICES:
            pid = raw[PK]["S"].removeprefix(keys.patient_pk(""))
            notices.update(keys.notice_key(pid, name) for name in _mark_names(raw))
        elif sk == keys.REVIEWS:
            acks = acknowledgements_from_item(raw)
    if profile is None:
        return None
    results.sort(key=lambda result: (result.date, result.result_id))
    record = PatientRecord(profile=profile_from_item(profile), infusions=tuple(infusions), results=tuple(results))
    record = with_acknowledgements(record, acks)
    return StoredPatient(
        record=record,
        version=int(_req(profile, Profile.version, "version")),
        enrolled_at=datetime.fromisoformat(_req(profile, Profile.enrolled_at, "enrolled_at")),
        patient_sub=_get(profile, Profile.patient_sub),
        external_ref=_get(profile, Profile.external_ref),
        next_check=_day(_get(profile, Profile.next_check)),
        swept_through=_day(_get(profile, Profile.swept_through)),
        sent_notices=frozenset(notices),
        acknowledgements=tuple(acks),
    )
