"""The care plan out (DESIGN 10): a patient's record and schedule as a FHIR R4 ``Bundle`` of type ``collection``.

Pure: plain dicts from the record, the schedule and the protocol, no FHIR library and no AWS (the layer stays small;
the tests validate the output against the R4 models of maintained libraries). The element mapping, the code
systems and why each status maps as it does are in docs/INTEROP.md ("Care plan out").

The Patient carries no name (the service never stores one): identifiers, gender and birth date only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final

from lemtrada.regimen.analytes import result_analytes, to_canonical
from lemtrada.regimen.protocol import AnalyteSpec, MonitoringItem, Protocol
from lemtrada.regimen.records import Analyte, PatientRecord, PatientStatus, Result, ResultItem
from lemtrada.regimen.schedule import Occurrence, OccurrenceStatus, Schedule

FHIR_JSON: Final = "application/fhir+json"
LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
PATIENT_ID_SYSTEM: Final = "urn:lemtrada:patient-id"
EXTERNAL_REF_SYSTEM: Final = "urn:lemtrada:external-ref"
ITEM_SYSTEM: Final = "urn:lemtrada:item"
"""Local code system of the monitored items (their API codes: ``cbc``, ``skin_exam``...), on every Task's code;
the only coding of an item without a fitting LOINC (skin_exam, hpv_screening)."""
OCCURRENCE_STATE_SYSTEM: Final = "urn:lemtrada:occurrence-state"
OCCURRENCE_SYSTEM: Final = "urn:lemtrada:occurrence"
RESULT_SYSTEM: Final = "urn:lemtrada:result"
FINDING_SYSTEM: Final = "urn:lemtrada:finding"
CARE_PLAN_TITLE: Final = "Alemtuzumab (Lemtrada) safety monitoring"
_NAMESPACE: Final = uuid.UUID("6c0b7f0e-3d53-5f7a-9a51-4c1e2b7d8a90")
"""Namespace of the entries' ``urn:uuid`` full URLs: the same resource gets the same URL in every export."""

TASK_STATUS: Final[Mapping[OccurrenceStatus, str]] = {
    OccurrenceStatus.UPCOMING: "requested",
    OccurrenceStatus.DUE: "ready",
    OccurrenceStatus.OVERDUE: "ready",
    OccurrenceStatus.DONE: "completed",
    OccurrenceStatus.MISSED: "cancelled",
}
"""FHIR Task.status of an occurrence's state (the state itself is the Task's businessStatus)."""

CARE_PLAN_STATUS: Final[Mapping[PatientStatus, str]] = {
    PatientStatus.ENROLLED: "active",
    PatientStatus.IN_TREATMENT: "active",
    PatientStatus.MONITORING: "active",
    PatientStatus.COMPLETED: "completed",
    PatientStatus.WITHDRAWN: "revoked",
}
"""FHIR CarePlan.status of the patient's status."""

INTERPRETATION_DISPLAY: Final[Mapping[str, str]] = {
    "LL": "Critical low",
    "L": "Low",
    "H": "High",
    "HH": "Critical high",
}
_RANK: Final[Mapping[str, int]] = {"L": 1, "H": 1, "LL": 2, "HH": 2}

NOT_UCUM: Final = frozenset({"cells/uL"})
"""Accepted units that are not UCUM codes: such a value is exported in its analyte's canonical (UCUM) unit."""


def fhir_id(text: str) -> str:
    """A FHIR ``id`` ([A-Za-z0-9-.]{1,64}) from an internal name: underscores and anything else become ``-``."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-.") else "-" for c in text)
    return cleaned[:64] or "-"


def _full_url(resource_type: str, resource_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{resource_type}/{resource_id}')}"


def _reference(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"reference": _full_url(resource_type, resource_id), "type": resource_type}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": _full_url(resource["resourceType"], resource["id"]), "resource": resource}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def task_id(patient_id: str, occurrence: Occurrence) -> str:
    return fhir_id(f"{patient_id}-{occurrence.item.value}-{occurrence.k}")


def observation_id(result: Result, analyte: Analyte) -> str:
    return fhir_id(f"{result.result_id}-{analyte.code}")


def item_code(spec: MonitoringItem | None, item: ResultItem) -> dict[str, Any]:
    """The Task's code: the item's LOINC (when it has one) and always its local item code."""
    codings: list[dict[str, str]] = []
    if spec is not None and spec.loinc:
        codings.append({"system": LOINC, "code": spec.loinc})
    codings.append({"system": ITEM_SYSTEM, "code": item.value})
    return {"coding": codings, "text": spec.what if spec is not None else item.value}


def patient_resource(record: PatientRecord, external_ref: str | None) -> dict[str, Any]:
    """Identifiers, gender and birth date: no name, no address, no free text (the service stores none)."""
    enrollment = record.profile.enrollment
    identifiers = [{"system": PATIENT_ID_SYSTEM, "value": record.patient_id}]
    if external_ref:
        identifiers.append({"system": EXTERNAL_REF_SYSTEM, "value": external_ref})
    return {
        "resourceType": "Patient",
        "id": fhir_id(record.patient_id),
        "identifier": identifiers,
        "gender": enrollment.sex.value,
        "birthDate": enrollment.birth_date.isoformat(),
    }


def task_status(occurrence: Occurrence, patient_status: PatientStatus) -> str:
    """An occurrence's Task.status; a withdrawn patient's open occurrences are cancelled (nobody will do them)."""
    if patient_status == PatientStatus.WITHDRAWN and occurrence.status != OccurrenceStatus.DONE:
        return "cancelled"
    return TASK_STATUS[occurrence.status]


def task_resource(
    patient_id: str,
    occurrence: Occurrence,
    spec: MonitoringItem | None,
    patient_status: PatientStatus,
    outputs: Iterable[str] = (),
) -> dict[str, Any]:
    """One monitoring occurrence: its state, its period [O_k, O_(k+1)) as an inclusive date period, the item's code;
    ``outputs`` are the ids of the Observations of the result that satisfied it."""
    state = occurrence.status.value
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_id(patient_id, occurrence),
        "identifier": [{"system": OCCURRENCE_SYSTEM, "value": f"{occurrence.item.value}:{occurrence.k}"}],
        "basedOn": [_reference("CarePlan", _care_plan_id(patient_id))],
        "status": task_status(occurrence, patient_status),
        "businessStatus": {"coding": [{"system": OCCURRENCE_STATE_SYSTEM, "code": state}], "text": state},
        "intent": "plan",
        "code": item_code(spec, occurrence.item),
        "description": f"{occurrence.item.value} #{occurrence.k}, due {occurrence.due_date.isoformat()}",
        "for": _reference("Patient", fhir_id(patient_id)),
        "restriction": {
            "period": {
                "start": occurrence.window_opens.isoformat(),
                "end": (occurrence.period_ends - timedelta(days=1)).isoformat(),
            }
        },
    }
    output = [
        {"type": {"text": "result"}, "valueReference": _reference("Observation", observation)}
        for observation in outputs
    ]
    if output:
        task["output"] = output
    return task


def _care_plan_id(patient_id: str) -> str:
    return fhir_id(f"{patient_id}-careplan")


def care_plan_resource(patient_id: str, schedule: Schedule, t0: date | None, task_ids: Iterable[str]) -> dict[str, Any]:
    """The monitoring plan: status by the patient's status, period T0..M, one activity per occurrence's Task."""
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": _care_plan_id(patient_id),
        "status": CARE_PLAN_STATUS[schedule.status],
        "intent": "plan",
        "title": CARE_PLAN_TITLE,
        "subject": _reference("Patient", fhir_id(patient_id)),
    }
    if t0 is not None and schedule.monitoring_ends is not None:
        plan["period"] = {"start": t0.isoformat(), "end": schedule.monitoring_ends.isoformat()}
    activities = [{"reference": _reference("Task", task)} for task in task_ids]
    if activities:
        plan["activity"] = activities
    return plan


def interpretations(result: Result, protocol: Protocol) -> dict[str, str]:
    """Analyte code -> v3 ObservationInterpretation code, from the result's findings only (a value outside the range
    without a finding gets none). Critical findings say LL/HH, major ones L/H; the most severe wins."""
    values = {analyte.code: to_canonical(analyte, protocol) for analyte in result_analytes(result)}
    limits = protocol.thresholds
    out: dict[str, str] = {}

    def say(code: str, flag: str) -> None:
        if code in values and _RANK[flag] > _RANK.get(out.get(code, ""), 0):
            out[code] = flag

    def above(code: str, multiple: float) -> bool:
        value = values.get(code)
        return value is not None and value.high is not None and value.value > multiple * value.high

    for finding in result.findings:
        match finding.code:
            case "platelets_below_100":
                say("platelets", "LL")
            case "platelets_below_range":
                say("platelets", "L")
            case "neutrophils_below_0_5":
                say("neutrophils", "LL")
            case "neutrophils_below_1_0":
                say("neutrophils", "L")
            case "creatinine_rise":
                say("creatinine", "H")
            case "hematuria":
                say("urine_rbc", "H")
            case "renal_autoimmunity_suspected":
                say("creatinine", "HH")
                say("urine_rbc", "HH")
            case "tsh_out_of_range":
                tsh = values.get("tsh")
                if tsh is not None:
                    say("tsh", "L" if tsh.low is not None and tsh.value < tsh.low else "H")
            case "transaminases_above_3x_uln":
                for code in ("alt", "ast"):
                    if above(code, limits.transaminase_uln_multiple):
                        say(code, "H")
            case "hys_law":
                for code in ("alt", "ast"):
                    if above(code, limits.transaminase_uln_multiple):
                        say(code, "HH")
                if above("bilirubin_total", limits.bilirubin_uln_multiple):
                    say("bilirubin_total", "HH")
            case _:
                pass  # platelets_halved and any later code: a change, not a level; no L/H/LL/HH
    return out


def _exported_value(analyte: Analyte, spec: AnalyteSpec | None) -> tuple[float, str, float]:
    """(value, UCUM unit, factor from the sent unit): the value as sent, or in the canonical unit when the sent unit
    is not a UCUM code."""
    if spec is None or analyte.unit not in NOT_UCUM:
        return analyte.value, analyte.unit, 1.0
    factor = spec.factor(analyte.unit) or 1.0
    return analyte.value * factor, spec.canonical_unit, factor


def _reference_range(analyte: Analyte, spec: AnalyteSpec | None, unit: str, factor: float) -> list[dict[str, Any]]:
    """The lab's range, else the service's default limits (in the exported unit) marked as such."""
    low, high = analyte.low, analyte.high
    if low is not None or high is not None:
        entry: dict[str, Any] = {}
        if low is not None:
            entry["low"] = _quantity(low * factor, unit)
        if high is not None:
            entry["high"] = _quantity(high * factor, unit)
        return [entry]
    if spec is None or (spec.default_low is None and spec.default_high is None):
        return []
    to_unit = spec.factor(unit) or 1.0  # canonical -> the exported unit: divide by that unit's factor
    entry = {"text": "service default limit (the lab sent no range)"}
    if spec.default_low is not None:
        entry["low"] = _quantity(spec.default_low / to_unit, unit)
    if spec.default_high is not None:
        entry["high"] = _quantity(spec.default_high / to_unit, unit)
    return [entry]


def observation_resources(patient_id: str, result: Result, protocol: Protocol) -> list[dict[str, Any]]:
    """One final Observation per analyte of a stored result, with the interpretation its findings give."""
    flags = interpretations(result, protocol)
    out = []
    for analyte in result_analytes(result):
        spec = protocol.analyte(analyte.code)
        value, unit, factor = _exported_value(analyte, spec)
        code: dict[str, Any] = {"text": analyte.code}
        if spec is not None:
            code["coding"] = [{"system": LOINC, "code": spec.loinc_for(unit)}]
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": observation_id(result, analyte),
            "identifier": [{"system": RESULT_SYSTEM, "value": f"{result.result_id}:{analyte.code}"}],
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
            "code": code,
            "subject": _reference("Patient", fhir_id(patient_id)),
            "effectiveDateTime": result.date.isoformat(),
            "valueQuantity": _quantity(value, unit),
        }
        flag = flags.get(analyte.code)
        if flag is not None:
            observation["interpretation"] = [
                {"coding": [{"system": INTERPRETATION, "code": flag, "display": INTERPRETATION_DISPLAY[flag]}]}
            ]
        ranges = _reference_range(analyte, spec, unit, factor)
        if ranges:
            observation["referenceRange"] = ranges
        out.append(observation)
    return out


def care_plan_bundle(
    record: PatientRecord,
    schedule: Schedule,
    protocol: Protocol,
    *,
    external_ref: str | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """The Bundle (``collection``): Patient, CarePlan, one Task per occurrence, one Observation per stored analyte.

    ``schedule`` is the record's schedule as of the date the export speaks for (the clinic's today);
    ``generated_at`` (timezone-aware) is the Bundle's timestamp.
    """
    patient_id = record.patient_id
    items = {spec.item: spec for spec in protocol.monitoring}
    observations: dict[str, list[dict[str, Any]]] = {
        result.result_id: observation_resources(patient_id, result, protocol) for result in record.results
    }
    tasks = [
        task_resource(
            patient_id,
            occurrence,
            items.get(occurrence.item),
            schedule.status,
            [o["id"] for o in observations.get(occurrence.satisfied_by or "", [])],
        )
        for occurrence in schedule.occurrences
    ]
    t0 = record.infusions[0].date if record.infusions else None
    plan = care_plan_resource(patient_id, schedule, t0, [task["id"] for task in tasks])
    resources = [
        patient_resource(record, external_ref),
        plan,
        *tasks,
        *(observation for result in record.results for observation in observations[result.result_id]),
    ]
    return {
        "resourceType": "Bundle",
        "id": fhir_id(f"{patient_id}-careplan-export"),
        "type": "collection",
        "timestamp": generated_at.isoformat(timespec="seconds"),
        "entry": [_entry(resource) for resource in resources],
    }
