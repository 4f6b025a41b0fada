"""Lab results delivered by a lab's or EHR's interface (DESIGN 10): observations in, results with analytes stored.

The parsers (``lemtrada.web.lab_fhir``, ``lemtrada.web.lab_hl7``) turn a FHIR document or an ORU message into
``LabObservation``s; this use case decides each one on its own and answers one ``LabOutcome`` per observation:

- 201 stored, 200 already stored (its receipt key was seen: nothing written) or not stored on purpose (a status
  that is not final, amended or corrected), 404 unknown patient (also another clinic's: no existence leak),
  422 what the rules refuse (unknown LOINC, unit not accepted, bad value, date after the clinic's today).
- Observations of one patient, item and date make one result: one write per such group, a later delivery for
  that item and date rewrites the stored result with its analytes added (version-checked, so a concurrent
  delivery re-reads and merges). Findings and alerts are computed as for a clinician's entry.
- Exactly once per receipt key: each stored observation's receipt is written in the same transaction, on the
  condition that its key is new; a retry or a concurrent delivery of the same key answers 200.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from lemtrada.notify.publisher import DigestPublisher
from lemtrada.regimen import add_result, next_check, protocol_for
from lemtrada.regimen.alerts import Alert, finding_alerts
from lemtrada.regimen.analytes import analyte_errors, analyte_for_loinc
from lemtrada.regimen.protocol import Protocol
from lemtrada.regimen.records import Analyte, Result, ResultItem
from lemtrada.services.acknowledgements import settled
from lemtrada.services.actor import Actor, Clock, Role
from lemtrada.services.alerts import AlertDelivery
from lemtrada.services.base import UseCase, local_today
from lemtrada.services.errors import NotFound
from lemtrada.services.recording import new_result_id
from lemtrada.services.worklists import projection_update, with_changes_on
from lemtrada.storage.ports import AlreadyExists, LabReceipt, PatientRepository, StoredClinic, VersionConflict

EXTERNAL_REF = "external_ref"
PATIENT_ID = "patient_id"
STORED_STATUSES = frozenset({"final", "amended", "corrected"})
CORRECTIONS = frozenset({"amended", "corrected"})
LAB_WRITE_ATTEMPTS = 8
"""Deliveries for one patient may arrive together (a panel split over messages): each lost race re-reads and
merges, and every lost race means another delivery was stored, so this bounds only pathological contention."""


@dataclass(frozen=True, slots=True)
class LabObservation:
    """One observation as the lab sent it. ``ref`` names it in the answer (``entry[3]``, ``OBX[2]``); ``key`` is
    its receipt key (the lab's identifier, or the HL7 control id and the OBX's place); ``effective`` a date, or
    an aware instant the clinic's time zone turns into its local date."""

    ref: str
    key: str
    subject_system: str  # EXTERNAL_REF or PATIENT_ID
    subject: str
    loinc: str
    effective: date | datetime
    value: float
    unit: str
    low: float | None = None
    high: float | None = None
    status: str = "final"


@dataclass(frozen=True, slots=True)
class LabOutcome:
    """What became of one observation (or of an entry that could not be read as one)."""

    ref: str
    status: int
    code: str | None = None
    detail: str | None = None
    patient_id: str | None = None
    result_id: str | None = None
    analyte: str | None = None
    findings: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status >= 400


@dataclass(frozen=True, slots=True)
class _Accepted:
    index: int
    observation: LabObservation
    patient_id: str
    item: ResultItem
    day: date
    analyte: Analyte


def rejected(ref: str, status: int, code: str, detail: str) -> LabOutcome:
    return LabOutcome(ref=ref, status=status, code=code, detail=detail)


class LabIngest(UseCase):
    """Stores what a clinic's lab interface delivers; with a ``publisher`` the alerts go out before answering."""

    def __init__(self, repository: PatientRepository, clock: Clock, publisher: DigestPublisher | None = None) -> None:
        super().__init__(repository, clock)
        self.alerts = None if publisher is None else AlertDelivery(repository, publisher)

    def authorise(self, actor: Actor, clinic_id: str) -> StoredClinic:
        """The clinic, for a lab interface of that clinic; anyone else (and an unknown clinic): 404."""
        if not actor.lab_interface_of(clinic_id):
            raise NotFound(f"clinic {clinic_id} not found")
        return self.clinic(clinic_id)

    def ingest(
        self,
        actor: Actor,
        clinic_id: str,
        observations: Sequence[LabObservation],
        *,
        authorised: StoredClinic | None = None,
    ) -> list[LabOutcome]:
        """One outcome per observation, in their order (each succeeds or fails on its own). ``authorised`` is the
        clinic ``authorise`` returned for this request (saves reading it again)."""
        known = (
            authorised is not None and authorised.clinic.clinic_id == clinic_id and actor.lab_interface_of(clinic_id)
        )
        clinic = authorised if known and authorised is not None else self.authorise(actor, clinic_id)
        protocol = protocol_for(clinic.clinic.label)
        zone = ZoneInfo(clinic.clinic.timezone)
        today = local_today(clinic, self.clock())
        outcomes: dict[int, LabOutcome] = {}
        receipts = self.repository.lab_receipts(clinic_id, [o.key for o in observations])
        refs = sorted({o.subject for o in observations if o.subject_system == EXTERNAL_REF})
        by_ref = self.repository.patients_by_external_ref(clinic_id, refs) if refs else {}
        first_of_key: dict[str, int] = {}
        repeats: dict[int, int] = {}
        accepted: list[_Accepted] = []
        for index, observation in enumerate(observations):
            if observation.key in receipts:
                outcomes[index] = _already(observation.ref, receipts[observation.key])
                continue
            if observation.key in first_of_key:
                repeats[index] = first_of_key[observation.key]
                continue
            first_of_key[observation.key] = index
            decided = _accept(index, observation, protocol=protocol, zone=zone, today=today, by_ref=by_ref)
            if isinstance(decided, LabOutcome):
                outcomes[index] = decided
            else:
                accepted.append(decided)
        groups: dict[tuple[str, ResultItem, date], list[_Accepted]] = {}
        for one in accepted:
            groups.setdefault((one.patient_id, one.item, one.day), []).append(one)
        owed: list[Alert] = []
        for (patient_id, item, day), members in groups.items():
            stored, alerts = self._store_group(
                actor,
                clinic=clinic,
                protocol=protocol,
                today=today,
                patient_id=patient_id,
                item=item,
                day=day,
                members=members,
            )
            outcomes.update(stored)
            owed.extend(alerts)
        for index, first in repeats.items():
            done = outcomes[first]
            ref = observations[index].ref
            outcomes[index] = (
                replace(done, ref=ref, status=200) if done.status in (200, 201) else replace(done, ref=ref)
            )
        if self.alerts is not None and owed:
            self.alerts.deliver(owed)
        return [outcomes[index] for index in range(len(observations))]

    def _store_group(
        self,
        actor: Actor,
        *,
        clinic: StoredClinic,
        protocol: Protocol,
        today: date,
        patient_id: str,
        item: ResultItem,
        day: date,
        members: list[_Accepted],
    ) -> tuple[dict[int, LabOutcome], tuple[Alert, ...]]:
        """Store one (patient, item, date) group as one result (new, or the stored one with analytes added)."""
        clinic_id = clinic.clinic.clinic_id
        outcomes: dict[int, LabOutcome] = {}
        pending = list(members)
        for _ in range(LAB_WRITE_ATTEMPTS):
            if not pending:
                return outcomes, ()
            stored = self.repository.get_patient(patient_id)
            if stored is None or stored.clinic_id != clinic_id:
                for one in pending:
                    outcomes[one.index] = _unknown_patient(one.observation)
                return outcomes, ()
            record = stored.record
            target = next((r for r in record.results if r.item == item and r.date == day), None)
            analytes = list(target.analytes if target is not None else ())
            taking: list[_Accepted] = []
            held = {a.code for a in analytes}
            doubtful = [one.observation.key for one in pending if one.analyte.code in held]
            if doubtful:
                # Read after the patient: a concurrent delivery of these very observations that committed before
                # the patient was read shows here (its receipts and its analytes are one transaction).
                seen = self.repository.lab_receipts(clinic_id, doubtful)
                for one in pending:
                    if one.observation.key in seen:
                        outcomes[one.index] = _already(one.observation.ref, seen[one.observation.key])
                pending = [one for one in pending if one.index not in outcomes]
            for one in pending:
                at = next((n for n, a in enumerate(analytes) if a.code == one.analyte.code), None)
                if at is None:
                    analytes.append(one.analyte)
                elif one.observation.status in CORRECTIONS:
                    analytes[at] = one.analyte
                else:
                    outcomes[one.index] = rejected(
                        one.observation.ref,
                        422,
                        "analyte_already_recorded",
                        f"{one.analyte.code} of {day.isoformat()} is stored; send it amended or corrected to change it",
                    )
                    continue
                taking.append(one)
            if not taking:
                return outcomes, ()
            if target is None:
                merged = Result(result_id=new_result_id(), item=item, date=day, analytes=tuple(analytes))
                base = record
            else:
                merged = replace(target, analytes=tuple(analytes))
                base = replace(record, results=tuple(r for r in record.results if r.result_id != target.result_id))
            new_record, added = add_result(base, merged, protocol)
            changed = {found.result_id for found in added}
            written = next(r for r in new_record.results if r.result_id == merged.result_id)
            updated = [r for r in new_record.results if r.result_id in changed and r.result_id != merged.result_id]
            upcoming = next_check(new_record, settled(stored), protocol, after=stored.swept_through)
            label = clinic.clinic.label
            worklist = projection_update(stored, new_record, stored.acknowledgements, today, label)
            upcoming = with_changes_on(upcoming, worklist, stored)
            action = "result.recorded" if target is None else "result.analytes_added"
            audit = self.audit(actor, Role.LAB_INTERFACES, action, f"RESULT#{day.isoformat()}#{merged.result_id}")
            profile = record.profile
            alerts = finding_alerts(profile.clinic_id, patient_id, profile.enrollment.enrolled_on, added)
            receipts = [
                LabReceipt(one.observation.key, patient_id, merged.result_id, day, item.value, one.analyte.code)
                for one in taking
            ]
            try:
                self.repository.store_lab_result(
                    patient_id,
                    written,
                    new=target is None,
                    receipts=receipts,
                    clinic_id=clinic_id,
                    expected_version=stored.version,
                    next_check=upcoming,
                    audit=audit,
                    updated=updated,
                    alerts=alerts,
                    worklist=worklist,
                )
            except AlreadyExists as taken:
                if taken.what == "receipt":
                    # A concurrent delivery stored some of these keys: they are answered as stored, the rest retried.
                    seen = self.repository.lab_receipts(clinic_id, [one.observation.key for one in taking])
                    for one in taking:
                        if one.observation.key in seen:
                            outcomes[one.index] = _already(one.observation.ref, seen[one.observation.key])
                pending = [one for one in pending if one.index not in outcomes]
                continue
            except VersionConflict:
                pending = [one for one in pending if one.index not in outcomes]
                continue
            own = tuple(f.code for f in added if f.result_id == merged.result_id)
            for one in taking:
                outcomes[one.index] = LabOutcome(
                    ref=one.observation.ref,
                    status=201,
                    patient_id=patient_id,
                    result_id=merged.result_id,
                    analyte=one.analyte.code,
                    findings=own,
                )
            return outcomes, alerts
        for one in pending:
            outcomes[one.index] = rejected(
                one.observation.ref, 409, "version_conflict", "the record kept changing while this was stored; retry"
            )
        return outcomes, ()


def _already(ref: str, receipt: LabReceipt) -> LabOutcome:
    return LabOutcome(
        ref=ref,
        status=200,
        code="already_stored",
        detail="this observation was stored before; nothing new was stored",
        patient_id=receipt.patient_id,
        result_id=receipt.result_id,
        analyte=receipt.analyte,
    )


def _unknown_patient(observation: LabObservation) -> LabOutcome:
    return rejected(observation.ref, 404, "patient_not_found", "no patient of this clinic has that identifier")


def local_date(effective: date | datetime, zone: ZoneInfo) -> date:
    """The clinic's local date of an observation's time (a bare date is taken as already local)."""
    if isinstance(effective, datetime):
        return effective.astimezone(zone).date() if effective.tzinfo is not None else effective.date()
    return effective


def _accept(
    index: int,
    observation: LabObservation,
    *,
    protocol: Protocol,
    zone: ZoneInfo,
    today: date,
    by_ref: dict[str, tuple[str, ...]],
) -> _Accepted | LabOutcome:
    """The observation checked against the rules that need no patient read, or the outcome refusing it."""
    ref = observation.ref
    if observation.status not in STORED_STATUSES:
        detail = f"status {observation.status}: only final, amended and corrected results are stored"
        return LabOutcome(ref=ref, status=200, code="status_not_stored", detail=detail)
    mapped = analyte_for_loinc(observation.loinc, protocol)
    if mapped is None:
        return rejected(ref, 422, "unknown_loinc", f"LOINC {observation.loinc} is not a monitored analyte")
    item, code = mapped
    analyte = Analyte(code, observation.value, observation.unit, observation.low, observation.high)
    errors = analyte_errors(item, [analyte], protocol)
    if errors:
        return rejected(ref, 422, errors[0].code, errors[0].detail)
    day = local_date(observation.effective, zone)
    if day > today:
        return rejected(ref, 422, "date_in_future", f"{day.isoformat()} is after the clinic's today")
    if observation.subject_system == PATIENT_ID:
        patient_id = observation.subject
    else:
        ids = by_ref.get(observation.subject, ())
        if not ids:
            return _unknown_patient(observation)
        if len(ids) > 1:
            return rejected(ref, 422, "patient_ambiguous", "several patients of this clinic share that external_ref")
        patient_id = ids[0]
    return _Accepted(index, observation, patient_id, item, day, analyte)
