"""The care plan out (DESIGN 10): the Bundle's mapping, checked element by element, and validated against the FHIR R4
models of two maintained libraries (fhir.resources' R4B package and SMART's fhirclient, generated from FHIR 4.0.1)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from fhirclient.models import fhirelementfactory
from fhirclient.models.bundle import Bundle as R4Bundle
from fhirclient.models.fhirabstractbase import FHIRValidationError
from lemtrada.regimen import US_PROTOCOL, add_result, build_schedule
from lemtrada.regimen.records import Analyte, PatientRecord, PatientStatus, ResultItem, Sex
from lemtrada.regimen.schedule import Occurrence, OccurrenceStatus
from lemtrada.services import fhir_export
from lemtrada.services.fhir_export import (
    EXTERNAL_REF_SYSTEM,
    INTERPRETATION,
    ITEM_SYSTEM,
    LOINC,
    PATIENT_ID_SYSTEM,
    UCUM,
    care_plan_bundle,
    task_status,
)
from pydantic import ValidationError

from tests.conftest import ROOT
from tests.support.fhir_example import EXAMPLE, example_bundle, render
from tests.unit.regimen.helpers import D, analyte, lab, profile, result, treated

NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
ON = D("2024-06-01")
LOCAL_ONLY_ITEMS = {ResultItem.SKIN_EXAM, ResultItem.HPV_SCREENING}
"""Monitored items without a LOINC in the protocol: docs/INTEROP.md and docs/DECISIONS.md say why."""


def stored(record: PatientRecord, *results: Any) -> PatientRecord:
    for entry in results:
        record, _ = add_result(record, entry, US_PROTOCOL)
    return record


def bundle_of(record: PatientRecord, on: date = ON, external_ref: str | None = "MRN-7") -> dict[str, Any]:
    schedule = build_schedule(record, on, US_PROTOCOL)
    return care_plan_bundle(record, schedule, US_PROTOCOL, external_ref=external_ref, generated_at=NOW)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def observation(bundle: dict[str, Any], analyte_code: str) -> dict[str, Any]:
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["text"] == analyte_code]
    return found


def flag(obs: dict[str, Any]) -> str | None:
    if "interpretation" not in obs:
        return None
    (concept,) = obs["interpretation"]
    (coding,) = concept["coding"]
    assert coding["system"] == INTERPRETATION
    return str(coding["code"])


def validate_r4(bundle: dict[str, Any]) -> None:
    """Both libraries, on the Bundle and on every resource as its own type (so no entry escapes as a bare Resource)."""
    R4BBundle.model_validate(bundle)
    R4Bundle(bundle, strict=True)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        fhirelementfactory.FHIRElementFactory.instantiate(resource["resourceType"], resource)


@pytest.fixture
def monitored() -> PatientRecord:
    """Course 1 from 2024-01-15 with the checklist, then a CBC with platelets at 42 (critical) and a TSH at 9."""
    return stored(
        treated("2024-01-15"),
        lab(
            ResultItem.CBC,
            "2024-02-14",
            analyte("platelets", 42, "10*3/uL", low=150, high=400),
            analyte("hemoglobin", 12.8, "g/dL"),
            rid="R1",
        ),
        lab(ResultItem.THYROID, "2024-04-14", analyte("tsh", 9.0), rid="R2"),
    )


# -- the shape -------------------------------------------------------------------------------------------------------
def test_a_collection_of_patient_care_plan_a_task_per_occurrence_and_an_observation_per_analyte(
    monitored: PatientRecord,
) -> None:
    bundle = bundle_of(monitored)
    schedule = build_schedule(monitored, ON, US_PROTOCOL)
    assert (bundle["resourceType"], bundle["type"], bundle["timestamp"]) == (
        "Bundle",
        "collection",
        "2024-06-01T08:00:00+00:00",
    )
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[:2] == ["Patient", "CarePlan"]
    tasks = resources(bundle, "Task")
    assert len(tasks) == len(schedule.occurrences) > 200  # four years of monthly, quarterly and yearly items
    assert [t["identifier"][0]["value"] for t in tasks] == [f"{o.item.value}:{o.k}" for o in schedule.occurrences]
    analytes = sum(len(r.analytes) for r in monitored.results)
    assert len(resources(bundle, "Observation")) == analytes == 3
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])
    validate_r4(bundle)


def test_every_reference_resolves_inside_the_bundle(monitored: PatientRecord) -> None:
    bundle = bundle_of(monitored)
    urls = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}

    def references(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "reference" in node and isinstance(node["reference"], str):
                yield node
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    found = list(references(bundle))
    assert len(found) > 3 * len(resources(bundle, "Task"))
    for ref in found:
        assert urls[ref["reference"]] == ref["type"]
    (patient,) = [url for url, kind in urls.items() if kind == "Patient"]
    (plan,) = resources(bundle, "CarePlan")
    assert plan["subject"]["reference"] == patient
    tasks = [url for url, kind in urls.items() if kind == "Task"]
    assert [a["reference"]["reference"] for a in plan["activity"]] == tasks
    assert {t["for"]["reference"] for t in resources(bundle, "Task")} == {patient}
    assert {o["subject"]["reference"] for o in resources(bundle, "Observation")} == {patient}


def test_the_export_is_the_same_twice() -> None:
    """Full URLs and ids come from the record: an EHR importing twice updates, it does not duplicate."""
    record = treated("2024-01-15")
    assert bundle_of(record) == bundle_of(record)


# -- Patient ---------------------------------------------------------------------------------------------------------
def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


@pytest.mark.parametrize("external_ref", ["MRN-7", None])
def test_the_patient_has_identifiers_gender_and_birth_date_and_never_a_name(
    monitored: PatientRecord, external_ref: str | None
) -> None:
    bundle = bundle_of(monitored, external_ref=external_ref)
    (patient,) = resources(bundle, "Patient")
    expected = [{"system": PATIENT_ID_SYSTEM, "value": "p1"}]
    if external_ref:
        expected.append({"system": EXTERNAL_REF_SYSTEM, "value": external_ref})
    assert patient == {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": expected,
        "gender": "female",
        "birthDate": "1990-05-01",
    }
    assert not {"name", "telecom", "address", "photo", "contact"} & set(_keys(bundle))


# -- CarePlan --------------------------------------------------------------------------------------------------------
def test_care_plan_runs_from_t0_to_the_end_of_monitoring(monitored: PatientRecord) -> None:
    (plan,) = resources(bundle_of(monitored), "CarePlan")
    assert (plan["status"], plan["intent"]) == ("active", "plan")
    assert plan["period"] == {"start": "2024-01-15", "end": "2028-01-19"}  # M = L + 48 months, L = 2024-01-19


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (PatientStatus.ENROLLED, "active"),
        (PatientStatus.IN_TREATMENT, "active"),
        (PatientStatus.MONITORING, "active"),
        (PatientStatus.COMPLETED, "completed"),
        (PatientStatus.WITHDRAWN, "revoked"),
    ],
)
def test_care_plan_status_by_patient_status(status: PatientStatus, expected: str) -> None:
    assert fhir_export.CARE_PLAN_STATUS[status] == expected


def test_care_plans_of_each_patient_status() -> None:
    enrolled = PatientRecord(profile())
    course_one = treated("2024-01-15")
    in_treatment = replace(course_one, infusions=course_one.infusions[:3])
    withdrawn = replace(course_one, profile=replace(course_one.profile, withdrawn_on=D("2024-05-01")))
    cases = [
        (enrolled, ON, "active"),
        (in_treatment, D("2024-01-18"), "active"),
        (course_one, ON, "active"),
        (course_one, D("2028-02-01"), "completed"),
        (withdrawn, ON, "revoked"),
    ]
    for record, on, expected in cases:
        bundle = bundle_of(record, on)
        (plan,) = resources(bundle, "CarePlan")
        assert plan["status"] == expected, (on, expected)
        validate_r4(bundle)
    (plan,) = resources(bundle_of(enrolled), "CarePlan")
    assert "period" not in plan
    assert "activity" not in plan  # no infusion yet: no T0, no schedule


# -- Task ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (OccurrenceStatus.UPCOMING, "requested"),
        (OccurrenceStatus.DUE, "ready"),
        (OccurrenceStatus.OVERDUE, "ready"),
        (OccurrenceStatus.DONE, "completed"),
        (OccurrenceStatus.MISSED, "cancelled"),
    ],
)
def test_task_status_by_occurrence_state(state: OccurrenceStatus, expected: str) -> None:
    occurrence = Occurrence(ResultItem.CBC, 1, ON, ON - timedelta(days=7), ON + timedelta(days=24), state, None)
    assert task_status(occurrence, PatientStatus.MONITORING) == expected
    withdrawn = task_status(occurrence, PatientStatus.WITHDRAWN)
    assert withdrawn == ("completed" if state == OccurrenceStatus.DONE else "cancelled")


def test_tasks_carry_state_period_code_and_outputs(monitored: PatientRecord) -> None:
    bundle = bundle_of(monitored)
    schedule = build_schedule(monitored, ON, US_PROTOCOL)
    tasks = resources(bundle, "Task")
    by_ref = {t["identifier"][0]["value"]: t for t in tasks}
    states = {o.status for o in schedule.occurrences}
    assert {OccurrenceStatus.DONE, OccurrenceStatus.MISSED, OccurrenceStatus.UPCOMING} <= states
    for occurrence in schedule.occurrences:
        task = by_ref[f"{occurrence.item.value}:{occurrence.k}"]
        assert task["intent"] == "plan"
        assert task["status"] == fhir_export.TASK_STATUS[occurrence.status]
        assert task["businessStatus"]["text"] == occurrence.status.value
        assert task["restriction"]["period"] == {
            "start": occurrence.window_opens.isoformat(),
            "end": (occurrence.period_ends - timedelta(days=1)).isoformat(),  # [O_k, O_(k+1)) as inclusive dates
        }
        codings = task["code"]["coding"]
        assert codings[-1] == {"system": ITEM_SYSTEM, "code": occurrence.item.value}
    cbc_1 = by_ref["cbc:1"]
    assert cbc_1["status"] == "completed"
    assert cbc_1["code"]["coding"][0] == {"system": LOINC, "code": "57021-8"}
    outputs = [o["valueReference"]["reference"] for o in cbc_1["output"]]
    urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    assert outputs == [urls["R1-platelets"], urls["R1-hemoglobin"]]
    assert by_ref["skin_exam:1"]["code"]["coding"] == [{"system": ITEM_SYSTEM, "code": "skin_exam"}]
    assert "output" not in by_ref["creatinine:1"]


def test_every_monitored_item_has_a_loinc_or_is_documented_as_local_only() -> None:
    for spec in US_PROTOCOL.monitoring:
        assert (spec.loinc is None) == (spec.item in LOCAL_ONLY_ITEMS), spec.item
    assert {spec.item: spec.loinc for spec in US_PROTOCOL.monitoring if spec.loinc} == {
        ResultItem.CBC: "57021-8",
        ResultItem.CREATININE: "2160-0",
        ResultItem.URINALYSIS: "24356-8",
        ResultItem.LIVER: "24325-3",
        ResultItem.THYROID: "3016-3",
    }


def test_every_unit_exports_a_loinc_the_lab_interface_also_reads() -> None:
    """The code an analyte is exported with, for each accepted unit, is one of its LOINC codes (section 7's table),
    so a result sent back in reads as the same analyte."""
    for spec in US_PROTOCOL.analytes:
        for unit, _ in spec.units:
            assert spec.loinc_for(unit) in spec.loinc, (spec.code, unit)
    creatinine = US_PROTOCOL.analyte("creatinine")
    assert creatinine is not None
    assert (creatinine.loinc_for("umol/L"), creatinine.loinc_for("mg/dL")) == ("14682-9", "2160-0")


# -- Observation -----------------------------------------------------------------------------------------------------
def test_observation_value_range_code_and_status(monitored: PatientRecord) -> None:
    obs = observation(bundle_of(monitored), "platelets")
    assert obs["status"] == "final"
    assert obs["code"]["coding"] == [{"system": LOINC, "code": "777-3"}]
    assert obs["effectiveDateTime"] == "2024-02-14"
    assert obs["valueQuantity"] == {"value": 42, "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"}
    assert obs["referenceRange"] == [
        {
            "low": {"value": 150, "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"},
            "high": {"value": 400, "unit": "10*3/uL", "system": UCUM, "code": "10*3/uL"},
        }
    ]
    assert obs["category"][0]["coding"][0]["code"] == "laboratory"


def test_default_limits_are_the_range_when_the_lab_sent_none(monitored: PatientRecord) -> None:
    tsh = observation(bundle_of(monitored), "tsh")
    (reference,) = tsh["referenceRange"]
    assert (reference["low"]["value"], reference["high"]["value"], reference["low"]["code"]) == (0.4, 4.0, "m[IU]/L")
    assert "default" in reference["text"]
    hemoglobin = observation(bundle_of(monitored), "hemoglobin")
    assert "referenceRange" not in hemoglobin  # no lab range, no default limit


def test_a_mass_unit_takes_its_own_loinc_and_a_non_ucum_unit_exports_in_the_canonical_unit() -> None:
    record = stored(
        treated("2024-01-15"),
        lab(ResultItem.CREATININE, "2024-02-14", Analyte("creatinine", 0.9, "mg/dL"), rid="R1"),
        result(ResultItem.CD4, "2024-03-14", rid="R2", value=420, unit="cells/uL"),
    )
    bundle = bundle_of(record)
    creatinine = observation(bundle, "creatinine")
    assert creatinine["code"]["coding"] == [{"system": LOINC, "code": "2160-0"}]
    assert creatinine["valueQuantity"]["code"] == "mg/dL"
    cd4 = observation(bundle, "cd4")
    assert cd4["valueQuantity"] == {"value": 420, "unit": "/uL", "system": UCUM, "code": "/uL"}
    assert cd4["code"]["coding"] == [{"system": LOINC, "code": "24467-3"}]
    validate_r4(bundle)


def _flags(*results: Any, record: PatientRecord | None = None) -> dict[str, str | None]:
    bundle = bundle_of(stored(record or treated("2024-01-15"), *results))
    return {o["identifier"][0]["value"].replace(":", "-"): flag(o) for o in resources(bundle, "Observation")}


@pytest.mark.parametrize(
    ("analytes", "expected"),
    [
        ([analyte("platelets", 42)], {"platelets": "LL"}),  # platelets_below_100
        ([analyte("platelets", 120)], {"platelets": "L"}),  # platelets_below_range (default low 150)
        ([analyte("platelets", 250)], {"platelets": None}),
        ([analyte("neutrophils", 0.3)], {"neutrophils": "LL"}),
        ([analyte("neutrophils", 0.8)], {"neutrophils": "L"}),
        ([analyte("neutrophils", 1.8), analyte("platelets", 42)], {"neutrophils": None, "platelets": "LL"}),
    ],
)
def test_interpretation_of_cbc_findings(analytes: list[Analyte], expected: dict[str, str | None]) -> None:
    flags = _flags(lab(ResultItem.CBC, "2024-02-14", *analytes, rid="R1"))
    assert flags == {f"R1-{code}": value for code, value in expected.items()}


@pytest.mark.parametrize(
    ("value", "expected"), [(9.0, "H"), (0.1, "L"), (2.0, None)], ids=["above", "below", "in-range"]
)
def test_interpretation_of_tsh_out_of_range(value: float, expected: str | None) -> None:
    assert _flags(lab(ResultItem.THYROID, "2024-04-14", analyte("tsh", value), rid="R1")) == {"R1-tsh": expected}


def test_interpretation_of_liver_findings() -> None:
    transaminases = _flags(lab(ResultItem.LIVER, "2024-02-14", analyte("alt", 200), analyte("ast", 30), rid="R1"))
    assert transaminases == {"R1-alt": "H", "R1-ast": None}
    hys = _flags(
        lab(
            ResultItem.LIVER,
            "2024-02-14",
            analyte("alt", 200),
            analyte("ast", 150),
            analyte("bilirubin_total", 50),
            rid="R1",
        )
    )
    assert hys == {"R1-alt": "HH", "R1-ast": "HH", "R1-bilirubin_total": "HH"}
    below_3x = _flags(
        lab(ResultItem.LIVER, "2024-02-14", analyte("alt", 100), analyte("bilirubin_total", 50), rid="R1")
    )
    assert below_3x == {"R1-alt": None, "R1-bilirubin_total": None}  # no finding says so: no interpretation


def test_interpretation_of_renal_findings() -> None:
    base = stored(treated("2024-01-15"), lab(ResultItem.CREATININE, "2024-01-10", analyte("creatinine", 70), rid="R0"))
    hematuria = _flags(lab(ResultItem.URINALYSIS, "2024-02-14", analyte("urine_rbc", 8), rid="R1"), record=base)
    assert hematuria["R1-urine_rbc"] == "H"
    rise_alone = _flags(lab(ResultItem.CREATININE, "2024-02-14", analyte("creatinine", 120), rid="R1"), record=base)
    assert rise_alone["R1-creatinine"] == "H"
    pair = _flags(
        lab(ResultItem.URINALYSIS, "2024-02-10", analyte("urine_rbc", 8), rid="R1"),
        lab(ResultItem.CREATININE, "2024-02-14", analyte("creatinine", 120), rid="R2"),
        record=base,
    )
    assert (pair["R1-urine_rbc"], pair["R2-creatinine"]) == ("H", "HH")  # renal_autoimmunity_suspected on the later


def test_a_halving_alone_says_no_level() -> None:
    flags = _flags(
        lab(ResultItem.CBC, "2024-02-14", analyte("platelets", 300), rid="R1"),
        lab(ResultItem.CBC, "2024-03-14", analyte("platelets", 140, low=130), rid="R2"),
    )
    assert flags == {"R1-platelets": None, "R2-platelets": None}


# -- validation --------------------------------------------------------------------------------------------------------
def test_a_female_patient_with_every_item_validates() -> None:
    record = stored(
        treated("2024-01-15", courses=("2025-02-01",)),
        result(ResultItem.HPV_SCREENING, "2025-01-15", rid="R1"),
        lab(ResultItem.LIVER, "2024-02-14", analyte("alt", 200), analyte("bilirubin_total", 1.5, "mg/dL"), rid="R2"),
        lab(ResultItem.THYROID, "2024-04-14", analyte("free_t4", 1.1, "ng/dL", low=0.8, high=1.8), rid="R3"),
    )
    bundle = bundle_of(record, D("2025-06-01"))
    items = {t["identifier"][0]["value"].split(":")[0] for t in resources(bundle, "Task")}
    assert items == {"cbc", "creatinine", "urinalysis", "liver", "thyroid", "skin_exam", "hpv_screening"}
    validate_r4(bundle)


def test_the_validators_refuse_a_broken_bundle(monitored: PatientRecord) -> None:
    """The validation above can fail: a Task without intent, or a Patient with an unknown element, is refused."""
    bundle = bundle_of(monitored)
    task = resources(bundle, "Task")[0]
    del task["intent"]
    with pytest.raises(ValidationError):
        get_fhir_model_class("Task").model_validate(task)
    with pytest.raises(FHIRValidationError):
        fhirelementfactory.FHIRElementFactory.instantiate("Task", task)
    patient = {**resources(bundle, "Patient")[0], "nickname": "x"}
    with pytest.raises(ValidationError):
        get_fhir_model_class("Patient").model_validate(patient)
    with pytest.raises(FHIRValidationError):
        fhirelementfactory.FHIRElementFactory.instantiate("Patient", patient)


def test_the_male_patient_has_no_hpv_task() -> None:
    bundle = bundle_of(treated("2024-01-15", sex=Sex.MALE, reproductive=False))
    assert not [t for t in resources(bundle, "Task") if t["identifier"][0]["value"].startswith("hpv_screening")]


# -- the example and the layer -----------------------------------------------------------------------------------------
def test_the_example_bundle_in_events_is_current_and_valid() -> None:
    bundle = example_bundle()
    assert EXAMPLE.read_text(encoding="utf-8") == render(bundle), "python -m tests.support.fhir_example"
    validate_r4(bundle)
    assert flag(next(o for o in resources(bundle, "Observation") if o["id"] == "R00000000002-platelets")) == "LL"


def test_the_builder_loads_no_fhir_library_and_no_aws() -> None:
    """The layer ships no FHIR library: the builder is plain dicts (the validators are test dependencies only)."""
    code = (
        "import sys, lemtrada.services.fhir_export as m\n"
        "bad = [n for n in ('fhir', 'fhirclient', 'fhir_core', 'boto3', 'botocore', 'pydantic') if n in sys.modules]\n"
        "print(','.join(bad))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "core")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == ""


def test_the_bench_record_exports_within_the_lambda_response_limit() -> None:
    """``bench.fhir_export``'s five-year record (two courses, every panel with its analytes) validates and fits."""
    from bench import fhir_export as bench

    measured = bench.measure(1)
    assert (measured.tasks, measured.observations) == (270, 700)
    assert measured.json_bytes < bench.LAMBDA_RESPONSE_LIMIT / 4
    assert measured.gzip_bytes * 5 < measured.json_bytes
    record = bench.long_record()
    validate_r4(bundle_of(record, D("2031-01-14")))
