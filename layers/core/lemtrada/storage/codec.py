"""Domain records <-> DynamoDB items: profiles, infusions, audit entries, clinics, user links and a whole patient.

Every function here is pure: no client, no table name. Attribute names come from storage.model, values go
through storage.wire; the packed results and notice marks are storage.packing's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from lemtrada.regimen.records import (
    DEFAULT_DIGEST_HOUR,
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
    PatientStatus,
    PregnancyEpisode,
    Result,
    Severity,
    Sex,
)
from lemtrada.regimen.worklist import PatientWorklist, WorklistItem, rank_key
from lemtrada.storage import keys
from lemtrada.storage.model import (
    PK,
    SK,
    Audit,
    ClinicItem,
    DeviationMap,
    InfusionItem,
    Link,
    Pregnancy,
    Profile,
    SweepLeaseItem,
    WorklistProjection,
)
from lemtrada.storage.packing import (
    acknowledgements_from_item,
    acknowledgements_item,
    mark_names,
    notices_item,
    results_from_item,
    results_items,
)
from lemtrada.storage.ports import (
    Acknowledgement,
    AuditEntry,
    NoticeMark,
    StoredClinic,
    StoredPatient,
    SweepLease,
    WorklistRow,
    WorklistUpdate,
    with_acknowledgements,
)
from lemtrada.storage.wire import Raw, item_key, python, wire


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
            ClinicItem.digest_hour: clinic.digest_hour,
            ClinicItem.reminder_hour: clinic.reminder_hour,
            ClinicItem.version: version,
        },
    )


def clinic_from_item(raw: Raw) -> StoredClinic:
    clinic = Clinic(
        clinic_id=raw[SK]["S"],
        name=_req(raw, ClinicItem.name, "name"),
        timezone=_req(raw, ClinicItem.timezone, "timezone"),
        label=Label(_req(raw, ClinicItem.label, "label")),
        digest_hour=DEFAULT_DIGEST_HOUR if (hour := _get(raw, ClinicItem.digest_hour)) is None else int(hour),
        reminder_hour=9 if (remind := _get(raw, ClinicItem.reminder_hour)) is None else int(remind),
    )
    return StoredClinic(clinic=clinic, version=int(_req(raw, ClinicItem.version, "version")))


def sweep_lease_from_item(raw: Raw) -> tuple[str, SweepLease]:
    """(clinic id, lease) of a ``SWEEPS`` item."""
    return raw[SK]["S"], SweepLease(
        date=date.fromisoformat(_req(raw, SweepLeaseItem.date, "date")),
        run_id=_req(raw, SweepLeaseItem.run_id, "run_id"),
        until=datetime.fromisoformat(_req(raw, SweepLeaseItem.until, "until")),
        done=bool(_req(raw, SweepLeaseItem.done, "done")),
    )


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
    worklist: PatientWorklist | None = None
    for raw in items:
        sk = raw[SK]["S"]
        if sk == keys.PROFILE:
            profile = raw
        elif sk.startswith(keys.INFUSION_PREFIX):
            infusions.append(infusion_from_item(raw))
        elif sk.startswith(keys.RESULTS_PREFIX):
            results += results_from_item(raw)
        elif keys.is_notices_sk(sk):  # NOTICES, then one NOTICES#<yyyy-mm> per month of sweeps
            pid = raw[PK]["S"].removeprefix(keys.patient_pk(""))
            notices.update(keys.notice_key(pid, name) for name in mark_names(raw))
        elif sk == keys.REVIEWS:
            acks = acknowledgements_from_item(raw)
    if profile is None:
        return None
    if WorklistProjection.day in profile:
        worklist = worklist_from_item(profile).worklist
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
        worklist=worklist,
    )


# ---- the worklist projection (DESIGN 8) ------------------------------------------------------------------------
_STATE_SEVERITY = {"due": "minor", "overdue": "major", "missed": "critical"}
_SEVERITY_LETTER = {"critical": "c", "major": "M", "minor": "m", "info": "i"}
_LETTER_SEVERITY = {letter: severity for severity, letter in _SEVERITY_LETTER.items()}


def pack_worklist_item(item: WorklistItem) -> str:
    """One item as one short line; what is derivable is left out (an occurrence's severity from its state, refs
    of occurrences, deviations and milestones from their fields): ~25 bytes an item."""
    if item.kind == "occurrence":
        return f"o|{item.code}|{item.k}|{item.state}|{_iso(item.due_date)}"
    if item.kind == "finding":
        return f"f|{item.code}|{_SEVERITY_LETTER[item.severity]}|{_iso(item.date)}|{item.ref}"
    if item.kind == "deviation":
        return f"d|{item.code}|{_SEVERITY_LETTER[item.severity]}|{_iso(item.date)}"
    return f"m|{item.code}|{_iso(item.date)}"


def unpack_worklist_item(line: str) -> WorklistItem:
    kind, code, *rest = line.split("|")
    if kind == "o":
        k, state, due = rest
        ref = f"{code}:{k}"
        return WorklistItem("occurrence", code, _STATE_SEVERITY[state], ref, int(k), state, date.fromisoformat(due))
    if kind == "f":
        severity, day, ref = rest
        return WorklistItem("finding", code, _LETTER_SEVERITY[severity], ref, date=date.fromisoformat(day))
    if kind == "d":
        severity, day = rest
        return WorklistItem(
            "deviation", code, _LETTER_SEVERITY[severity], f"{day}:{code}", date=date.fromisoformat(day)
        )
    (day,) = rest
    return WorklistItem("milestone", code, "info", f"{code}:{day}", date=date.fromisoformat(day))


def worklist_attributes(update: WorklistUpdate) -> dict[str, Any]:
    """The projection's attributes of the profile (None: removed); the index keys only while the patient has
    items (the index is sparse)."""
    after = update.after
    rank = rank_key(after, update.patient_id)
    return {
        WorklistProjection.clinic: None if rank is None else keys.clinic_key(update.clinic_id),
        WorklistProjection.rank: rank,
        WorklistProjection.status: after.status.value,
        WorklistProjection.items: "\n".join(pack_worklist_item(i) for i in after.items) or None,
        WorklistProjection.day: after.day.isoformat(),
        WorklistProjection.changes_on: _iso(after.changes_on),
    }


def worklist_from_item(raw: Raw) -> WorklistRow:
    packed = _get(raw, WorklistProjection.items)
    worklist = PatientWorklist(
        day=date.fromisoformat(_req(raw, WorklistProjection.day, "day")),
        status=PatientStatus(_req(raw, WorklistProjection.status, "status")),
        items=tuple(unpack_worklist_item(line) for line in packed.split("\n")) if packed else (),
        changes_on=_day(_get(raw, WorklistProjection.changes_on)),
    )
    return WorklistRow(
        patient_id=raw[PK]["S"].removeprefix(keys.patient_pk("")),
        external_ref=_get(raw, WorklistProjection.external_ref),
        worklist=worklist,
    )
