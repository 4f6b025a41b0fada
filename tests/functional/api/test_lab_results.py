"""DESIGN 10, lab results in, through the real lab function under moto: FHIR Bundles and HL7 ORU^R01 messages
stored as results with analytes and findings, answered in the sender's language, once per lab identifier."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from fhirclient.models.bundle import Bundle as R4Bundle
from lemtrada import bootstrap

from tests.conftest import ROOT
from tests.functional.api.conftest import CLINIC, CLINICIAN, OTHER_CLINIC, Api, Reply, load_function
from tests.functional.conftest import load_event

LAB = {"sub": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "cognito:groups": "[lab_interfaces]", "custom:clinic_id": CLINIC}
EVENTS = ROOT / "events" / "lab_results"
EXTERNAL_REF = "LYON-000412"


def bundle_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / "cbc_tsh_bundle.fhir.json").read_text(encoding="utf-8"))
    return document


def oru_message() -> str:
    return (EVENTS / "cbc_tsh_oru_r01.hl7").read_text(encoding="utf-8")


def deliver(
    api: Api,
    body: str | dict[str, Any],
    media: str = "application/fhir+json",
    *,
    claims: dict[str, str] = LAB,
    clinic_id: str = CLINIC,
) -> Reply:
    """POST the body as API Gateway hands it over: JSON as text, HL7 base64-encoded."""
    event = copy.deepcopy(load_event("lab_results/post_lab_results"))
    event["requestContext"]["authorizer"]["jwt"]["claims"] = {**claims, "token_use": "id"}
    event["pathParameters"] = {"clinic_id": clinic_id}
    event["rawPath"] = f"/dev/clinics/{clinic_id}/lab-results"
    event["headers"]["content-type"] = media
    text = body if isinstance(body, str) else json.dumps(body)
    if media == "application/hl7-v2":
        event["body"], event["isBase64Encoded"] = base64.b64encode(text.encode()).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = text, False
    result = load_function("lab_results").handler(event, api.context)
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return Reply(result["statusCode"], headers, result.get("body") or "")


def statuses(reply: Reply) -> list[str]:
    return [entry["response"]["status"] for entry in reply.body["entry"]]


def stored_results(patient_id: str) -> list[Any]:
    stored = bootstrap.repository().get_patient(patient_id)
    assert stored is not None
    return list(stored.record.results)


def test_the_sample_bundle_stores_one_cbc_and_one_thyroid_result(api: Api, patient_id: str) -> None:
    document = bundle_document()
    R4BBundle.model_validate(document)  # the sample is valid FHIR before it says anything about the route
    R4Bundle(document, strict=True)  # R4 (4.0.1) as well as R4B
    reply = deliver(api, document)
    assert reply.status == 200, reply.raw
    assert reply.headers["content-type"] == "application/fhir+json"
    assert statuses(reply) == ["201 Created"] * 4
    results = {r.item.value: r for r in stored_results(patient_id)}
    assert sorted(results) == ["cbc", "thyroid"]
    assert [a.code for a in results["cbc"].analytes] == ["platelets", "neutrophils", "hemoglobin"]
    assert results["cbc"].analytes[0].low == 150.0
    assert str(results["cbc"].date) == "2026-11-20"
    assert [f.code for f in results["cbc"].findings] == ["platelets_below_100"]
    patient = api.call("get_patient", path=f"/patients/{patient_id}")
    assert [f["code"] for f in patient.body["open_findings"]] == ["platelets_below_100"]


def test_the_answer_is_a_valid_batch_response(api: Api, patient_id: str) -> None:
    reply = deliver(api, bundle_document())
    answer = R4BBundle.model_validate(reply.body)
    assert answer.type == "batch-response"
    assert len(answer.entry or []) == 4
    assert R4Bundle(reply.body, strict=True).type == "batch-response"


def test_a_failing_entrys_outcome_is_valid_r4(api: Api, patient_id: str) -> None:
    document = bundle_document()
    document["entry"][0]["resource"]["valueQuantity"]["code"] = "mmol/L"
    reply = deliver(api, document)
    R4BBundle.model_validate(reply.body)
    checked = R4Bundle(reply.body, strict=True)
    outcome = checked.entry[0].response.outcome
    assert outcome is not None
    assert outcome.issue[0].code == "processing"
    assert outcome.issue[0].details.coding[0].code == "unit_not_accepted"


def test_the_same_bundle_again_stores_nothing_and_answers_200(api: Api, patient_id: str) -> None:
    assert statuses(deliver(api, bundle_document())) == ["201 Created"] * 4
    before = stored_results(patient_id)
    version = bootstrap.repository().get_patient(patient_id).version  # type: ignore[union-attr]
    again = deliver(api, bundle_document())
    assert statuses(again) == ["200 OK"] * 4
    assert stored_results(patient_id) == before
    assert bootstrap.repository().get_patient(patient_id).version == version  # type: ignore[union-attr]


def test_a_later_observation_adds_its_analyte_to_the_stored_result(api: Api, patient_id: str) -> None:
    document = bundle_document()
    first, rest = document["entry"][:1], document["entry"][1:3]
    assert statuses(deliver(api, {**document, "entry": first})) == ["201 Created"]
    assert statuses(deliver(api, {**document, "entry": rest})) == ["201 Created"] * 2
    (cbc,) = stored_results(patient_id)
    assert [a.code for a in cbc.analytes] == ["platelets", "neutrophils", "hemoglobin"]
    assert [f.code for f in cbc.findings] == ["platelets_below_100"]  # raised once, kept


def test_a_clinicians_result_of_the_same_item_and_date_is_completed(api: Api, patient_id: str) -> None:
    typed = api.result(patient_id, "cbc", "2026-11-20", analytes=[{"code": "wbc", "value": 5.5, "unit": "10*9/L"}])
    assert typed.status == 201, typed.raw
    document = bundle_document()
    assert statuses(deliver(api, {**document, "entry": document["entry"][:1]})) == ["201 Created"]
    (cbc,) = stored_results(patient_id)
    assert cbc.result_id == typed.body["result_id"]
    assert [a.code for a in cbc.analytes] == ["wbc", "platelets"]


def test_a_second_value_for_a_stored_analyte_needs_a_correction(api: Api, patient_id: str) -> None:
    document = bundle_document()
    deliver(api, {**document, "entry": document["entry"][:1]})
    retest = copy.deepcopy(document["entry"][0])
    retest["resource"]["identifier"][0]["value"] = "LAB-20261120-0412-1b"
    retest["resource"]["valueQuantity"]["value"] = 180
    refused = deliver(api, {**document, "entry": [retest]})
    assert statuses(refused) == ["422 Unprocessable Entity"]
    issue = refused.body["entry"][0]["response"]["outcome"]["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "analyte_already_recorded"
    retest["resource"]["status"] = "corrected"
    assert statuses(deliver(api, {**document, "entry": [retest]})) == ["201 Created"]
    (cbc,) = stored_results(patient_id)
    assert cbc.analytes[0].value == 180.0


def test_a_correction_under_the_labs_own_identifier_is_stored_once(api: Api, patient_id: str) -> None:
    """FHIR's usual correction keeps the Observation's identifier and changes its status (and its version): the
    corrected value is stored, the same correction again stores nothing, and a second correction is stored too."""
    document = bundle_document()
    assert statuses(deliver(api, {**document, "entry": document["entry"][:1]})) == ["201 Created"]
    corrected = copy.deepcopy(document["entry"][0])
    corrected["resource"]["status"] = "corrected"
    corrected["resource"]["valueQuantity"]["value"] = 180
    assert statuses(deliver(api, {**document, "entry": [corrected]})) == ["201 Created"]
    assert stored_results(patient_id)[0].analytes[0].value == 180.0
    assert statuses(deliver(api, {**document, "entry": [corrected]})) == ["200 OK"]  # the same correction again
    corrected["resource"]["meta"] = {"versionId": "3"}
    corrected["resource"]["valueQuantity"]["value"] = 175
    assert statuses(deliver(api, {**document, "entry": [corrected]})) == ["201 Created"]
    (cbc,) = stored_results(patient_id)
    assert cbc.analytes[0].value == 175.0
    assert [f.code for f in cbc.findings] == ["platelets_below_100"]  # raised by 15: stays until acknowledged


def test_each_observation_fails_on_its_own(api: Api, patient_id: str) -> None:
    document = bundle_document()
    document["entry"][1]["resource"]["valueQuantity"]["code"] = "cells/mm3"
    document["entry"][3]["resource"]["code"]["coding"][0]["code"] = "2345-7"  # glucose: not monitored
    reply = deliver(api, document)
    assert statuses(reply) == ["201 Created", "422 Unprocessable Entity", "201 Created", "422 Unprocessable Entity"]
    codes = [
        e["response"].get("outcome", {}).get("issue", [{}])[0].get("details", {}).get("coding", [{}])[0].get("code")
        for e in reply.body["entry"]
    ]
    assert codes == [None, "unit_not_accepted", None, "unknown_loinc"]
    (cbc,) = stored_results(patient_id)
    assert [a.code for a in cbc.analytes] == ["platelets", "hemoglobin"]


def test_a_preliminary_observation_is_not_stored(api: Api, patient_id: str) -> None:
    document = bundle_document()
    document["entry"][0]["resource"]["status"] = "preliminary"
    reply = deliver(api, {**document, "entry": document["entry"][:1]})
    assert statuses(reply) == ["200 OK"]
    assert reply.body["entry"][0]["response"]["outcome"]["issue"][0]["severity"] == "information"
    assert stored_results(patient_id) == []


def test_the_patient_may_be_named_by_its_patient_id(api: Api, patient_id: str) -> None:
    document = bundle_document()
    subject = {"identifier": {"system": "urn:lemtrada:patient-id", "value": patient_id}}
    document["entry"][0]["resource"]["subject"] = subject
    assert statuses(deliver(api, {**document, "entry": document["entry"][:1]})) == ["201 Created"]


def test_another_clinics_patient_is_not_found_in_its_entry(api: Api, patient_id: str) -> None:
    api.put_clinic(OTHER_CLINIC)
    other_lab = {**LAB, "custom:clinic_id": OTHER_CLINIC}
    document = bundle_document()
    by_id = copy.deepcopy(document["entry"][0])
    by_id["resource"]["subject"] = {"identifier": {"system": "urn:lemtrada:patient-id", "value": patient_id}}
    reply = deliver(api, {**document, "entry": [document["entry"][1], by_id]}, claims=other_lab, clinic_id=OTHER_CLINIC)
    assert statuses(reply) == ["404 Not Found", "404 Not Found"]
    assert stored_results(patient_id) == []


@pytest.mark.parametrize(
    "claims",
    [CLINICIAN, {**LAB, "custom:clinic_id": OTHER_CLINIC}, {**LAB, "cognito:groups": "[patients]"}],
    ids=["clinician", "other-clinic-lab", "patient"],
)
def test_only_the_clinics_lab_interface_may_deliver(api: Api, patient_id: str, claims: dict[str, str]) -> None:
    reply = deliver(api, bundle_document(), claims=claims)
    assert reply.status == 404
    assert stored_results(patient_id) == []


def test_the_sample_oru_message_is_stored_and_acknowledged(api: Api, patient_id: str) -> None:
    reply = deliver(api, oru_message(), "application/hl7-v2")
    assert reply.status == 200, reply.raw
    assert reply.headers["content-type"] == "application/hl7-v2"
    segments = reply.raw.strip("\r").split("\r")
    assert segments[0].startswith("MSH|^~\\&|LEMTRADA|lyon-neuro|LABSYS|BIOLAB-LYON|")
    assert "|ACK^R01^ACK|" in segments[0]
    assert segments[1] == "MSA|AA|BIO-20261120-000137"
    results = {r.item.value: r for r in stored_results(patient_id)}
    assert sorted(results) == ["cbc", "thyroid"]
    assert str(results["cbc"].date) == "2026-11-20"
    assert [f.code for f in results["cbc"].findings] == ["platelets_below_100"]
    again = deliver(api, oru_message(), "application/hl7-v2")
    assert again.raw.split("\r")[1] == "MSA|AA|BIO-20261120-000137"
    assert {r.item.value: r for r in stored_results(patient_id)} == results


def test_a_failing_obx_is_named_in_an_err_segment(api: Api, patient_id: str) -> None:
    message = oru_message().replace("||2.1|10*9/L", "||high|10*9/L")
    reply = deliver(api, message, "application/hl7-v2")
    segments = reply.raw.strip("\r").split("\r")
    assert segments[1] == "MSA|AE|BIO-20261120-000137"
    (err,) = [s for s in segments if s.startswith("ERR|")]
    assert err.startswith("ERR||OBX^2^5|102^Data type error^HL70357|E|")
    (cbc, _) = sorted(stored_results(patient_id), key=lambda r: r.item.value)
    assert [a.code for a in cbc.analytes] == ["platelets", "hemoglobin"]
