"""A corpus of bad lab deliveries (DESIGN 10) through routing and the real lab function under moto: each gets the
right answer in the sender's language (OperationOutcome, batch-response entry, HL7 ACK with AR or AE and ERR) and
the table is item for item the same afterwards.

The clinic (Europe/Paris) has one patient, external_ref LYON-000412; its today is 2026-11-24.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from fhir.resources.R4B.operationoutcome import OperationOutcome as R4BOperationOutcome

from tests.conftest import ROOT
from tests.functional.api.conftest import CLINIC, OTHER_CLINIC, Api
from tests.security.gateway import Answer, send

LAB = {"sub": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "cognito:groups": "[lab_interfaces]", "custom:clinic_id": CLINIC}
OTHER_LAB = {**LAB, "custom:clinic_id": OTHER_CLINIC}
FHIR = "application/fhir+json"
HL7 = "application/hl7-v2"
EVENTS = ROOT / "events" / "lab_results"
URL = f"/clinics/{CLINIC}/lab-results"

BUNDLE: dict[str, Any] = json.loads((EVENTS / "cbc_tsh_bundle.fhir.json").read_text(encoding="utf-8"))
OBSERVATION: dict[str, Any] = BUNDLE["entry"][0]["resource"]
MSH = "MSH|^~\\&|LABSYS|BIOLAB-LYON|LEMTRADA|lyon-neuro|20261120091500+0100||ORU^R01^ORU_R01|BIO-1|P|2.5"
PID = "PID|1||LYON-000412^^^LYON^MR||^^^^^^S||19880417|F"
OBR = "OBR|1|ORD-1|BIO-1|58410-2^CBC panel^LN|||20261120081000+0100"
OBX = "OBX|1|NM|777-3^Platelets^LN||15|10*9/L^10*9/L^UCUM|150-400|LL|||F"


def _observation(**changes: Any) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(OBSERVATION))
    for path, value in changes.items():
        target: Any = changed
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return changed


def _one(resource: dict[str, Any]) -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": resource}]}).encode()


def _oru(*segments: str) -> bytes:
    return ("\r".join(segments) + "\r").encode()


def outcome(status: int, code: str) -> Callable[[Answer], str | None]:
    """A whole-document refusal: this status and an OperationOutcome whose issue carries ``code``."""

    def check(answer: Answer) -> str | None:
        if answer.status != status or answer.content_type != FHIR:
            return f"{answer.status} {answer.content_type}"
        document = answer.json()
        R4BOperationOutcome.model_validate(document)
        found = document["issue"][0]["details"]["coding"][0]["code"]
        return None if found == code else f"code {found}"

    return check


def entry(status: str, code: str) -> Callable[[Answer], str | None]:
    """A read document: 200 with a valid batch-response whose one entry has this status and code."""

    def check(answer: Answer) -> str | None:
        if answer.status != 200 or answer.content_type != FHIR:
            return f"{answer.status} {answer.content_type} {answer.body[:200]!r}"
        document = answer.json()
        R4BBundle.model_validate(document)
        (response,) = [e["response"] for e in document["entry"]]
        found = response.get("outcome", {}).get("issue", [{}])[0].get("details", {}).get("coding", [{}])[0].get("code")
        return None if (response["status"], found) == (status, code) else f"{response['status']} {found}"

    return check


def ack(http: int, msa: str, err: str | None = None) -> Callable[[Answer], str | None]:
    """An HL7 ACK: the HTTP status, MSA-1, and (when given) an ERR segment starting with ``err``."""

    def check(answer: Answer) -> str | None:
        if answer.status != http or answer.content_type != HL7:
            return f"{answer.status} {answer.content_type} {answer.body[:200]!r}"
        segments = answer.body.decode().strip("\r").split("\r")
        if not segments[0].startswith("MSH|^~\\&|LEMTRADA|") or not segments[1].startswith(f"MSA|{msa}|"):
            return f"{segments[:2]}"
        errors = [s for s in segments if s.startswith("ERR|")]
        if err is not None and not any(s.startswith(err) for s in errors):
            return f"ERR segments {errors}"
        return None

    return check


def problem(status: int, code: str) -> Callable[[Answer], str | None]:
    def check(answer: Answer) -> str | None:
        if answer.status != status or answer.content_type != "application/problem+json":
            return f"{answer.status} {answer.content_type}"
        return None if answer.json().get("code") == code else f"code {answer.json().get('code')}"

    return check


Case = tuple[str, dict[str, str], str | None, bytes, Callable[[Answer], str | None]]
CORPUS: list[Case] = [
    # ---- FHIR: documents this route does not read (400), too much (413) ---------------------------------------
    ("fhir-not-json", LAB, FHIR, b'{"resourceType": "Bundle", ', outcome(400, "malformed_document")),
    ("fhir-array", LAB, FHIR, b"[]", outcome(400, "malformed_document")),
    ("fhir-patient", LAB, FHIR, b'{"resourceType": "Patient"}', outcome(400, "malformed_document")),
    (
        "fhir-searchset",
        LAB,
        FHIR,
        b'{"resourceType": "Bundle", "type": "searchset"}',
        outcome(400, "malformed_document"),
    ),
    (
        "fhir-entry-not-list",
        LAB,
        FHIR,
        b'{"resourceType":"Bundle","type":"batch","entry":{}}',
        outcome(400, "malformed_document"),
    ),
    ("fhir-deep", LAB, FHIR, b"[" * 50_000 + b"]" * 50_000, outcome(400, "malformed_document")),
    (
        "fhir-10000-entries",
        LAB,
        FHIR,
        json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [{}] * 10_000}).encode(),
        outcome(413, "too_many_entries"),
    ),
    (
        "fhir-10000-observations",
        LAB,
        FHIR,
        json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [{"resource": OBSERVATION}] * 10_000}).encode(),
        outcome(413, "payload_too_large"),
    ),
    ("fhir-over-2mb", LAB, FHIR, b" " * (2 * 1024 * 1024 + 1), outcome(413, "payload_too_large")),
    # ---- FHIR: observations refused in their entry -------------------------------------------------------------
    (
        "fhir-value-text",
        LAB,
        FHIR,
        _one(_observation(valueQuantity__value="15")),
        entry("422 Unprocessable Entity", "value_invalid"),
    ),
    (
        "fhir-value-negative",
        LAB,
        FHIR,
        _one(_observation(valueQuantity__value=-1)),
        entry("422 Unprocessable Entity", "validation_error"),
    ),
    (
        "fhir-value-missing",
        LAB,
        FHIR,
        _one(_observation(valueQuantity={"code": "10*9/L"})),
        entry("422 Unprocessable Entity", "value_invalid"),
    ),
    (
        "fhir-unknown-loinc",
        LAB,
        FHIR,
        _one(_observation(code__coding__0__code="2345-7")),
        entry("422 Unprocessable Entity", "unknown_loinc"),
    ),
    (
        "fhir-no-loinc",
        LAB,
        FHIR,
        _one(_observation(code__coding__0__system="http://snomed.info/sct")),
        entry("422 Unprocessable Entity", "loinc_missing"),
    ),
    (
        "fhir-unknown-ucum",
        LAB,
        FHIR,
        _one(_observation(valueQuantity__code="10*9/mL")),
        entry("422 Unprocessable Entity", "unit_not_accepted"),
    ),
    (
        "fhir-range-inverted",
        LAB,
        FHIR,
        _one(_observation(referenceRange=[{"low": {"value": 400}, "high": {"value": 150}}])),
        entry("422 Unprocessable Entity", "validation_error"),
    ),
    (
        "fhir-range-text",
        LAB,
        FHIR,
        _one(_observation(referenceRange=[{"low": {"value": "150"}}])),
        entry("422 Unprocessable Entity", "range_invalid"),
    ),
    (
        "fhir-no-identifier",
        LAB,
        FHIR,
        _one(_observation(identifier=[])),
        entry("422 Unprocessable Entity", "identifier_missing"),
    ),
    (
        "fhir-partial-date",
        LAB,
        FHIR,
        _one(_observation(effectiveDateTime="2026-11")),
        entry("422 Unprocessable Entity", "effective_invalid"),
    ),
    (
        "fhir-future",
        LAB,
        FHIR,
        _one(_observation(effectiveDateTime="2026-11-30")),
        entry("422 Unprocessable Entity", "date_in_future"),
    ),
    (
        "fhir-subject-system",
        LAB,
        FHIR,
        _one(_observation(subject={"identifier": {"system": "urn:other", "value": "x"}})),
        entry("422 Unprocessable Entity", "subject_invalid"),
    ),
    (
        "fhir-unknown-patient",
        LAB,
        FHIR,
        _one(_observation(subject__identifier__value="LYON-999999")),
        entry("404 Not Found", "patient_not_found"),
    ),
    (
        "fhir-not-observation",
        LAB,
        FHIR,
        _one({"resourceType": "Patient"}),
        entry("422 Unprocessable Entity", "not_an_observation"),
    ),
    (
        "fhir-value-huge-integer",
        LAB,
        FHIR,
        b'{"resourceType":"Bundle","type":"batch","entry":[{"resource":'
        + json.dumps(_observation(valueQuantity__value=0)).replace('"value": 0', '"value": ' + "9" * 400).encode()
        + b"}]}",
        entry("422 Unprocessable Entity", "value_invalid"),
    ),
    (
        "fhir-identifier-oversized",
        LAB,
        FHIR,
        _one(_observation(identifier=[{"system": "urn:lab", "value": "x" * 500_000}])),
        entry("422 Unprocessable Entity", "identifier_invalid"),
    ),
    (
        "fhir-offset-out-of-range",
        LAB,
        FHIR,
        _one(_observation(effectiveDateTime="2026-11-20T08:10:00+99:99")),
        entry("422 Unprocessable Entity", "effective_invalid"),
    ),
    ("fhir-preliminary", LAB, FHIR, _one(_observation(status="preliminary")), entry("200 OK", "status_not_stored")),
    # another clinic's lab interface: the patient (by external_ref or by id) is not found, nothing stored
    ("fhir-other-clinic-ref", OTHER_LAB, FHIR, _one(OBSERVATION), entry("404 Not Found", "patient_not_found")),
    # ---- HL7: messages this route does not read: AR ----------------------------------------------------------
    ("hl7-truncated", LAB, HL7, MSH[:60].encode(), ack(400, "AR")),
    ("hl7-truncated-obx", LAB, HL7, _oru(MSH, PID, OBR, "OBX|1|NM|777-3^Plat"), ack(200, "AE", "ERR||OBX^1^5|")),
    ("hl7-garbled", LAB, HL7, b"\x0b\x1c\x00garbage|||\r\x1c", ack(400, "AR")),
    ("hl7-garbled-segment", LAB, HL7, _oru(MSH, PID, "O@X|1", OBR, OBX), ack(400, "AR")),
    ("hl7-not-msh", LAB, HL7, _oru(PID, OBR, OBX), ack(400, "AR")),
    ("hl7-obx-before-obr", LAB, HL7, _oru(MSH, PID, OBX, OBR), ack(400, "AR", "ERR||MSH^1|100^")),
    ("hl7-obr-before-pid", LAB, HL7, _oru(MSH, OBR, PID, OBX), ack(400, "AR")),
    (
        "hl7-no-control-id",
        LAB,
        HL7,
        _oru(MSH.replace("|BIO-1|P|", "||P|"), PID, OBR, OBX),
        ack(400, "AR", "ERR||MSH^1|101^"),
    ),
    (
        "hl7-control-id-oversized",
        LAB,
        HL7,
        _oru(MSH.replace("|BIO-1|P|", "|" + "C" * 300_000 + "|P|"), PID, OBR, OBX),
        ack(400, "AR", "ERR||MSH^1|101^"),
    ),
    (
        "hl7-offset-out-of-range",
        LAB,
        HL7,
        _oru(MSH, PID, OBR.replace("20261120081000+0100", "202611200810+9999"), OBX),
        ack(200, "AE", "ERR||OBX^1^5|102^"),
    ),
    (
        "hl7-offset-a-day",
        LAB,
        HL7,
        _oru(MSH, PID, OBR.replace("20261120081000+0100", "202611200810+2400"), OBX),
        ack(200, "AE", "ERR||OBX^1^5|102^"),
    ),
    ("hl7-adt", LAB, HL7, _oru(MSH.replace("ORU^R01^ORU_R01", "ADT^A01"), PID), ack(400, "AR", "ERR||MSH^1|200^")),
    ("hl7-no-obx", LAB, HL7, _oru(MSH, PID, OBR), ack(400, "AR")),
    ("hl7-v3-version", LAB, HL7, _oru(MSH.replace("|P|2.5", "|P|3.0"), PID, OBR, OBX), ack(400, "AR")),
    ("hl7-not-utf8", LAB, HL7, b"MSH|^~\\&|\xff\xfe|", ack(400, "AR")),
    # ---- HL7: OBX refused on its own: AE with ERR naming it --------------------------------------------------
    (
        "hl7-value-text",
        LAB,
        HL7,
        _oru(MSH, PID, OBR, OBX.replace("||15|", "||fifteen|")),
        ack(200, "AE", "ERR||OBX^1^5|102^"),
    ),
    ("hl7-value-st", LAB, HL7, _oru(MSH, PID, OBR, OBX.replace("|NM|", "|ST|")), ack(200, "AE", "ERR||OBX^1^5|102^")),
    (
        "hl7-unknown-loinc",
        LAB,
        HL7,
        _oru(MSH, PID, OBR, OBX.replace("777-3^", "2345-7^")),
        ack(200, "AE", "ERR||OBX^1^5|103^"),
    ),
    (
        "hl7-local-code",
        LAB,
        HL7,
        _oru(MSH, PID, OBR, OBX.replace("^Platelets^LN", "^Platelets^L")),
        ack(200, "AE", "ERR||OBX^1^5|"),
    ),
    (
        "hl7-unknown-ucum",
        LAB,
        HL7,
        _oru(MSH, PID, OBR, OBX.replace("|10*9/L^10*9/L^UCUM|", "|giga/l|")),
        ack(200, "AE", "ERR||OBX^1^5|103^"),
    ),
    (
        "hl7-range-text",
        LAB,
        HL7,
        _oru(MSH, PID, OBR, OBX.replace("|150-400|", "|normal|")),
        ack(200, "AE", "ERR||OBX^1^5|102^"),
    ),
    (
        "hl7-unknown-patient",
        LAB,
        HL7,
        _oru(MSH, PID.replace("LYON-000412", "LYON-999999"), OBR, OBX),
        ack(200, "AE", "ERR||PID^1^3|204^"),
    ),
    (
        "hl7-no-date",
        LAB,
        HL7,
        _oru(MSH, PID, OBR.replace("20261120081000+0100", ""), OBX),
        ack(200, "AE", "ERR||OBX^1^5|102^"),
    ),
    ("hl7-preliminary", LAB, HL7, _oru(MSH, PID, OBR, OBX.replace("|||F", "|||P")), ack(200, "AA")),
    ("hl7-other-clinic", OTHER_LAB, HL7, _oru(MSH, PID, OBR, OBX), ack(200, "AE", "ERR||PID^1^3|204^")),
    # ---- neither format, or not the caller's clinic --------------------------------------------------------
    ("json", LAB, "application/json", _one(OBSERVATION), problem(415, "unsupported_media_type")),
    ("text", LAB, "text/plain", _oru(MSH, PID, OBR, OBX), problem(415, "unsupported_media_type")),
    ("no-content-type", LAB, None, _one(OBSERVATION), problem(415, "unsupported_media_type")),
    ("xml", LAB, "application/fhir+xml", b"<Bundle/>", problem(415, "unsupported_media_type")),
]


def _dump() -> list[str]:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    items: list[str] = []
    for page in client.get_paginator("scan").paginate(TableName="regimen-test", ConsistentRead=True):
        items.extend(json.dumps(item, sort_keys=True) for item in page["Items"])
    return sorted(items)


@pytest.fixture
def clinics(api: Api, patient_id: str) -> str:
    """The clinic's patient (external_ref LYON-000412) and another clinic, without patients."""
    assert api.put_clinic(OTHER_CLINIC).status == 201
    return patient_id


def _deliver(claims: dict[str, str], media: str | None, body: bytes, url: str = URL) -> Answer:
    headers = {} if media is None else {"content-type": media}
    return send("POST", url, claims=claims, headers=headers, body=body)


def test_the_corpus_gets_the_right_answers_and_changes_nothing(clinics: str) -> None:
    wrong = []
    for name, claims, media, body, check in CORPUS:
        url = f"/clinics/{claims['custom:clinic_id']}/lab-results"
        before = _dump()
        answer = _deliver(claims, media, body, url)
        problem_found = check(answer)
        if problem_found is not None:
            wrong.append(f"{name}: {problem_found}")
        if _dump() != before:
            wrong.append(f"{name}: the table changed")
    assert wrong == [], "\n".join(wrong)


def test_another_clinics_patient_by_id_is_not_found_and_not_stored(clinics: str) -> None:
    before = _dump()
    by_id = _observation(subject={"identifier": {"system": "urn:lemtrada:patient-id", "value": clinics}})
    answer = _deliver(OTHER_LAB, FHIR, _one(by_id), f"/clinics/{OTHER_CLINIC}/lab-results")
    assert entry("404 Not Found", "patient_not_found")(answer) is None
    unknown = _observation(subject={"identifier": {"system": "urn:lemtrada:patient-id", "value": "0" * 32}})
    same = _deliver(OTHER_LAB, FHIR, _one(unknown), f"/clinics/{OTHER_CLINIC}/lab-results")
    assert json.loads(same.body)["entry"] == json.loads(answer.body)["entry"]  # no existence leak
    assert _dump() == before


@pytest.mark.parametrize(
    "claims",
    [
        {**LAB, "cognito:groups": "[clinicians]"},
        {**LAB, "cognito:groups": "[admins]"},
        {**LAB, "custom:clinic_id": OTHER_CLINIC},
        {k: v for k, v in LAB.items() if k != "custom:clinic_id"},
    ],
    ids=["clinician", "admin", "other-clinic", "no-clinic"],
)
def test_only_the_clinics_lab_interface_is_heard(clinics: str, claims: dict[str, str]) -> None:
    before = _dump()
    for media, body in ((FHIR, json.dumps(BUNDLE).encode()), (HL7, (EVENTS / "cbc_tsh_oru_r01.hl7").read_bytes())):
        answer = _deliver(claims, media, body)
        assert problem(404, "not_found")(answer) is None, answer.body
    assert _dump() == before


def test_a_body_that_is_not_utf8_is_refused(clinics: str) -> None:
    before = _dump()
    answer = _deliver(LAB, FHIR, b"\xff\xfe{}")
    assert outcome(400, "malformed_document")(answer) is None, answer.body
    assert _dump() == before
