"""A corpus of bad input through the real handlers under moto: every request gets a 4xx problem+json with a
clear ``code``, and both tables are byte-for-byte the same afterwards (every item dumped before and after).

The clinic is in Europe/Paris and its today is 2026-11-24 (the fixed clock of the functional tier); the patient
was born 1988-04-17. Accepted boundary values (dose 100, an 18th birthday today) are checked separately.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.functional.api.conftest import ADMIN, CLINICIAN, Api
from tests.security.gateway import Answer, send
from tests.support import bodies

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}
TODAY = "2026-11-24"
INFUSION = bodies.infusion("2026-11-20")
ENROLL = bodies.enrollment(external_ref=None)  # required fields only: each is taken out in turn below
RESULT = bodies.result(value=None, unit=None)
CLINIC = bodies.clinic()
VALIDATION = "validation_error"


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def _without(base: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in base.items() if key != name}


def _infusion_at(day: str, start: str, end: str, diluted: str = "08:10") -> dict[str, Any]:
    return _with(
        INFUSION,
        date=day,
        diluted_at=f"{day}T{diluted}:00+01:00",
        started_at=f"{day}T{start}:00+01:00",
        ended_at=f"{day}T{end}:00+01:00",
    )


def _analyte(code: str = "platelets", **changes: Any) -> dict[str, Any]:
    return _with({"code": code, "value": 15, "unit": "10*9/L"}, **changes)


def _cbc(*analytes: dict[str, Any]) -> dict[str, Any]:
    return {"item": "cbc", "date": "2026-11-20", "analytes": list(analytes)}


def _ack(kind: str, ref: str, action: str = "reviewed") -> dict[str, Any]:
    return {"kind": kind, "ref": ref, "action": action}


# (id, method, path ("{pid}" = the enrolled patient), body (bytes are sent as they are), headers, status, code)
Case = tuple[str, str, str, Any, dict[str, str], int, str]
INF, RES, ENR, PAT = "/patients/{pid}/infusions", "/patients/{pid}/results", "/patients", "/patients/{pid}"
ACK = "/patients/{pid}/acknowledgements"
CORPUS: list[Case] = [
    # malformed JSON and the wrong document shape
    ("truncated-json", "POST", INF, b'{"date": ', JSON, 422, VALIDATION),
    ("two-documents", "POST", INF, b'{"date": "2026-11-20"}{}', JSON, 422, VALIDATION),
    ("array-body", "POST", INF, [INFUSION], JSON, 422, VALIDATION),
    ("null-body", "POST", RES, b"null", JSON, 422, VALIDATION),
    ("string-body", "POST", ENR, b'"enroll me"', JSON, 422, VALIDATION),
    ("empty-body", "POST", RES, b"", JSON, 422, VALIDATION),
    (
        "nan-dose",
        "POST",
        INF,
        json.dumps(INFUSION).replace('"dose_mg": 12', '"dose_mg": NaN').encode(),
        JSON,
        422,
        VALIDATION,
    ),
    ("infinite-value", "POST", RES, b'{"item": "cbc", "date": "2026-11-20", "value": 1e400}', JSON, 422, VALIDATION),
    ("not-utf8", "POST", ENR, b'{"birth_date": "\xff\xfe"}', JSON, 422, VALIDATION),
    (
        "form-encoded",
        "POST",
        RES,
        b"item=cbc&date=2026-11-20",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
    ),
    (
        "multipart-no-boundary",
        "POST",
        RES,
        b"--x",
        {"content-type": "multipart/form-data"},
        415,
        "unsupported_media_type",
    ),
    ("text-plain", "PATCH", PAT, b'{"withdrawn": true}', {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    # wrong types
    ("dose-as-string", "POST", INF, _with(INFUSION, dose_mg="12"), JSON, 422, VALIDATION),
    ("bool-as-string", "POST", INF, _with(INFUSION, co_infused="false"), JSON, 422, VALIDATION),
    ("dmt-count-float", "POST", ENR, _with(ENROLL, prior_dmt_count=2.0), JSON, 422, VALIDATION),
    ("dmt-count-bool", "POST", ENR, _with(ENROLL, prior_dmt_count=True), JSON, 422, VALIDATION),
    ("contraindications-string", "POST", ENR, _with(ENROLL, contraindications="hiv"), JSON, 422, VALIDATION),
    ("sex-number", "POST", ENR, _with(ENROLL, sex=1), JSON, 422, VALIDATION),
    ("withdrawn-number", "PATCH", PAT, {"withdrawn": 1}, JSON, 422, VALIDATION),
    ("result-value-bool", "POST", RES, _with(RESULT, value=True), JSON, 422, VALIDATION),
    # missing fields (every required field of an infusion and an enrollment) and empty patches
    *[
        (f"infusion-without-{name}", "POST", INF, _without(INFUSION, name), JSON, 422, VALIDATION)
        for name in (
            "date",
            "dose_mg",
            "diluted_at",
            "started_at",
            "ended_at",
            "route",
            "co_infused",
            "methylprednisolone_mg",
            "antiviral_prophylaxis",
        )
    ],
    *[(f"enrollment-without-{name}", "POST", ENR, _without(ENROLL, name), JSON, 422, VALIDATION) for name in ENROLL],
    ("result-without-item", "POST", RES, {"date": "2026-11-20"}, JSON, 422, VALIDATION),
    ("empty-patch", "PATCH", PAT, {}, JSON, 422, VALIDATION),
    ("pregnancy-ended-without-date", "PATCH", PAT, {"pregnancy": {"state": "ended"}}, JSON, 422, VALIDATION),
    (
        "pregnancy-ended-none-ongoing",
        "PATCH",
        PAT,
        {"pregnancy": {"state": "ended", "date": "2026-11-01"}},
        JSON,
        422,
        VALIDATION,  # errors[0].code: no_ongoing_pregnancy
    ),
    # unknown fields
    ("unknown-field", "POST", INF, _with(INFUSION, approved_by="me"), JSON, 422, VALIDATION),
    ("clinic-id-in-body", "POST", ENR, _with(ENROLL, clinic_id="nantes-sep"), JSON, 422, VALIDATION),
    ("proto-field", "PATCH", PAT, {"__proto__": {"admin": True}, "withdrawn": True}, JSON, 422, VALIDATION),
    ("version-in-body", "PATCH", PAT, {"version": 99, "withdrawn": True}, JSON, 422, VALIDATION),
    # size: one byte past 16 KB is refused before parsing (256 KB on POST /patients, which takes a history); nesting
    ("body-16kb-plus-1", "POST", RES, b" " * (16 * 1024 + 1), JSON, 413, "payload_too_large"),
    ("enrollment-256kb-plus-1", "POST", ENR, b" " * (256 * 1024 + 1), JSON, 413, "payload_too_large"),
    ("body-1mb", "POST", INF, b"[" * (1024 * 1024), JSON, 413, "payload_too_large"),
    (
        "justification-too-long",
        "POST",
        ENR,
        _with(ENROLL, prior_dmt_count=1, justification="x" * 2001),
        JSON,
        422,
        VALIDATION,
    ),
    ("nesting-16000", "POST", RES, b"[" * 16000 + b"]" * 300, JSON, 422, VALIDATION),
    ("nesting-500", "POST", RES, b"[" * 500 + b"]" * 500, JSON, 422, VALIDATION),
    ("nested-object-value", "POST", RES, _with(RESULT, unit={"a": {"b": {"c": []}}}), JSON, 422, VALIDATION),
    # impossible dates and times, naive datetimes
    ("date-feb-30", "POST", RES, _with(RESULT, date="2026-02-30"), JSON, 422, VALIDATION),
    ("date-month-13", "POST", RES, _with(RESULT, date="2026-13-01"), JSON, 422, VALIDATION),
    ("date-day-0", "POST", ENR, _with(ENROLL, birth_date="1988-04-00"), JSON, 422, VALIDATION),
    ("date-not-padded", "POST", RES, _with(RESULT, date="2026-1-5"), JSON, 422, VALIDATION),
    ("date-compact", "POST", RES, _with(RESULT, date="20261120"), JSON, 422, VALIDATION),
    ("date-with-time", "POST", RES, _with(RESULT, date="2026-11-20T00:00:00+01:00"), JSON, 422, VALIDATION),
    ("date-arabic-digits", "POST", RES, _with(RESULT, date="٢٠٢٦-١١-٢٠"), JSON, 422, VALIDATION),
    ("date-year-1", "POST", ENR, _with(ENROLL, birth_date="0001-01-01"), JSON, 422, VALIDATION),
    ("date-year-9999", "POST", RES, _with(RESULT, date="9999-12-31"), JSON, 422, VALIDATION),
    ("hour-25", "POST", INF, _with(INFUSION, started_at="2026-11-20T25:00:00+01:00"), JSON, 422, VALIDATION),
    ("minute-60", "POST", INF, _with(INFUSION, ended_at="2026-11-20T12:60:00+01:00"), JSON, 422, VALIDATION),
    ("offset-24h", "POST", INF, _with(INFUSION, diluted_at="2026-11-20T08:10:00+24:00"), JSON, 422, VALIDATION),
    ("naive-datetime", "POST", INF, _with(INFUSION, started_at="2026-11-20T08:40:00"), JSON, 422, VALIDATION),
    ("space-separator", "POST", INF, _with(INFUSION, ended_at="2026-11-20 12:55:00+01:00"), JSON, 422, VALIDATION),
    ("datetime-year-1", "POST", INF, _with(INFUSION, diluted_at="0001-01-01T00:00:00+01:00"), JSON, 422, VALIDATION),
    ("readiness-feb-30", "GET", "/patients/{pid}/readiness?start=2026-02-30", None, {}, 422, VALIDATION),
    ("schedule-year-1", "GET", "/patients/{pid}/schedule?as_of=0001-01-01", None, {}, 422, VALIDATION),
    ("worklist-garbage", "GET", "/clinics/lyon-neuro/worklist?date=yesterday", None, {}, 422, VALIDATION),
    ("list-limit-0", "GET", "/patients?limit=0", None, {}, 422, VALIDATION),
    ("list-limit-101", "GET", "/patients?limit=101", None, {}, 422, VALIDATION),
    ("list-limit-text", "GET", "/patients?limit=ten", None, {}, 422, VALIDATION),
    # unicode and control characters
    ("nul-in-batch", "POST", INF, _with(INFUSION, batch_number="LMT\u0000193"), JSON, 422, VALIDATION),
    ("newline-in-unit", "POST", RES, _with(RESULT, value=5.1, unit="g/L\nDROP"), JSON, 422, VALIDATION),
    ("escape-in-clinic-name", "PUT", "/clinics/lyon-neuro", _with(CLINIC, name="Lyon\u001b[2J"), JSON, 422, VALIDATION),
    (
        "bell-in-justification",
        "POST",
        ENR,
        _with(ENROLL, prior_dmt_count=1, justification="no\u0007"),
        JSON,
        422,
        VALIDATION,
    ),
    ("rtl-override-in-ref", "POST", ENR, _with(ENROLL, external_ref="LYON\u202e214"), JSON, 422, VALIDATION),
    ("emoji-in-sub", "POST", ENR, _with(ENROLL, patient_sub="user-\U0001f600"), JSON, 422, VALIDATION),
    ("homoglyph-route", "POST", INF, _with(INFUSION, route="\u0456v_infusion"), JSON, 422, VALIDATION),
    ("zero-width-diagnosis", "POST", ENR, _with(ENROLL, diagnosis="relapsing_remitting\u200b"), JSON, 422, VALIDATION),
    ("bad-timezone", "PUT", "/clinics/lyon-neuro", _with(CLINIC, timezone="Mars/Olympus"), JSON, 422, VALIDATION),
    ("timezone-path", "PUT", "/clinics/lyon-neuro", _with(CLINIC, timezone="../../etc/passwd"), JSON, 422, VALIDATION),
    ("label-uk", "PUT", "/clinics/lyon-neuro", _with(CLINIC, label="UK"), JSON, 422, VALIDATION),
    # headers
    ("idempotency-key-too-long", "POST", RES, RESULT, {**JSON, "idempotency-key": "k" * 129}, 422, VALIDATION),
    ("idempotency-key-space", "POST", RES, RESULT, {**JSON, "idempotency-key": "a b"}, 422, VALIDATION),
    ("idempotency-key-unicode", "POST", RES, RESULT, {**JSON, "idempotency-key": "clé"}, 422, VALIDATION),
    ("if-match-garbage", "PATCH", PAT, {"withdrawn": True}, {**JSON, "if-match": "latest"}, 422, VALIDATION),
    ("if-match-stale", "PATCH", PAT, {"withdrawn": True}, {**JSON, "if-match": '"0"'}, 409, "version_conflict"),
    # section 2 boundaries: dose in (0, 100], times, the clinic's today, age 18, prior DMTs
    ("dose-0", "POST", INF, _with(INFUSION, dose_mg=0), JSON, 422, "dose_out_of_range"),
    ("dose-negative", "POST", INF, _with(INFUSION, dose_mg=-12), JSON, 422, "dose_out_of_range"),
    ("dose-100.0001", "POST", INF, _with(INFUSION, dose_mg=100.0001), JSON, 422, "dose_out_of_range"),
    ("ended-at-start", "POST", INF, _infusion_at("2026-11-20", "08:40", "08:40"), JSON, 422, "ended_not_after_started"),
    (
        "ended-before-start",
        "POST",
        INF,
        _infusion_at("2026-11-20", "08:40", "08:39"),
        JSON,
        422,
        "ended_not_after_started",
    ),
    (
        "started-before-dilution",
        "POST",
        INF,
        _infusion_at("2026-11-20", "08:09", "12:55"),
        JSON,
        422,
        "started_before_diluted",
    ),
    ("infusion-tomorrow", "POST", INF, _infusion_at("2026-11-25", "08:40", "12:55"), JSON, 422, "date_in_future"),
    ("result-tomorrow", "POST", RES, _with(RESULT, date="2026-11-25"), JSON, 422, "date_in_future"),
    (
        "pregnancy-ongoing-tomorrow",
        "PATCH",
        PAT,
        {"pregnancy": {"state": "ongoing", "date": "2026-11-25"}},
        JSON,
        422,
        "date_in_future",
    ),
    ("prior-dmt-minus-1", "POST", ENR, _with(ENROLL, prior_dmt_count=-1), JSON, 422, VALIDATION),
    ("prior-dmt-51", "POST", ENR, _with(ENROLL, prior_dmt_count=51), JSON, 422, VALIDATION),
    ("age-17y364d", "POST", ENR, _with(ENROLL, birth_date="2008-11-25"), JSON, 422, "not_adult"),
    ("born-tomorrow", "POST", ENR, _with(ENROLL, birth_date="2026-11-25"), JSON, 422, "date_in_future"),
    (
        "prior-dmt-1-no-justification",
        "POST",
        ENR,
        _with(ENROLL, prior_dmt_count=1),
        JSON,
        422,
        "insufficient_prior_dmts",
    ),
    ("methylprednisolone-negative", "POST", INF, _with(INFUSION, methylprednisolone_mg=-1), JSON, 422, VALIDATION),
    ("observation-minus-1", "POST", INF, _with(INFUSION, observation_minutes=-1), JSON, 422, VALIDATION),
    ("course-0", "POST", INF, _with(INFUSION, course=0), JSON, 422, VALIDATION),
    ("vzv-without-status", "POST", RES, {"item": "vzv", "date": "2026-11-20"}, JSON, 422, VALIDATION),
    ("status-on-cbc", "POST", RES, _with(RESULT, status="negative"), JSON, 422, VALIDATION),
    ("unknown-item", "POST", RES, _with(RESULT, item="mri"), JSON, 422, VALIDATION),
    # analytes (DESIGN 7): each refused with the analyte rules' code, nothing stored
    ("analyte-of-another-item", "POST", RES, _cbc(_analyte("tsh", unit="m[IU]/L")), JSON, 422, "analyte_not_of_item"),
    ("analyte-unknown-code", "POST", RES, _cbc(_analyte("ldl")), JSON, 422, "analyte_not_of_item"),
    ("analyte-unknown-unit", "POST", RES, _cbc(_analyte(unit="cells/mm3")), JSON, 422, "unit_not_accepted"),
    ("analyte-unit-case", "POST", RES, _cbc(_analyte(unit="10*9/l")), JSON, 422, "unit_not_accepted"),
    ("analyte-negative", "POST", RES, _cbc(_analyte(value=-0.1)), JSON, 422, VALIDATION),
    ("analyte-low-above-high", "POST", RES, _cbc(_analyte(low=400, high=150)), JSON, 422, VALIDATION),
    ("analyte-negative-high", "POST", RES, _cbc(_analyte(high=-1)), JSON, 422, VALIDATION),
    ("analyte-duplicate", "POST", RES, _cbc(_analyte(), _analyte(value=90)), JSON, 422, VALIDATION),
    ("analyte-value-string", "POST", RES, _cbc(_analyte(value="15")), JSON, 422, VALIDATION),
    ("analyte-value-bool", "POST", RES, _cbc(_analyte(value=True)), JSON, 422, VALIDATION),
    ("analyte-without-unit", "POST", RES, _cbc(_without(_analyte(), "unit")), JSON, 422, VALIDATION),
    ("analyte-unknown-field", "POST", RES, _cbc(_with(_analyte(), loinc="777-3")), JSON, 422, VALIDATION),
    ("analytes-not-a-list", "POST", RES, _with(RESULT, analytes=_analyte()), JSON, 422, VALIDATION),
    ("analytes-33", "POST", RES, _cbc(*[_analyte()] * 33), JSON, 422, VALIDATION),
    (
        "analyte-infinite",
        "POST",
        RES,
        b'{"item":"cbc","date":"2026-11-20","analytes":[{"code":"platelets","value":1e400,"unit":"10*9/L"}]}',
        JSON,
        422,
        VALIDATION,
    ),
    (
        "analyte-nan",
        "POST",
        RES,
        b'{"item":"cbc","date":"2026-11-20","analytes":[{"code":"platelets","value":NaN,"unit":"10*9/L"}]}',
        JSON,
        422,
        VALIDATION,
    ),
    (
        "cd4-unit-unknown",
        "POST",
        RES,
        {"item": "cd4", "date": "2026-11-20", "value": 400, "unit": "g/L"},
        JSON,
        422,
        "unit_not_accepted",
    ),
    # enrollment with history (DESIGN 8): the entry at fault is named, nothing stored
    ("history-unknown-field", "POST", ENR, _with(ENROLL, history={"labs": []}), JSON, 422, VALIDATION),
    (
        "history-infusion-future",
        "POST",
        ENR,
        _with(ENROLL, history={"infusions": [_with(INFUSION, date="2026-12-30")]}),
        JSON,
        422,
        "date_in_future",
    ),
    (
        "history-analyte-of-another-item",
        "POST",
        ENR,
        _with(
            ENROLL,
            history={
                "results": [
                    {"item": "cbc", "date": "2026-11-01", "analytes": [{"code": "tsh", "value": 1, "unit": "m[IU]/L"}]}
                ]
            },
        ),
        JSON,
        422,
        "analyte_not_of_item",
    ),
    # acknowledgements: unknown refs, an occurrence not yet overdue, bad kinds and actions
    ("ack-unknown-finding", "POST", ACK, _ack("finding", "nosuch:platelets_below_100"), JSON, 404, "not_found"),
    ("ack-unknown-deviation", "POST", ACK, _ack("deviation", "2026-11-19:no_such_code"), JSON, 404, "not_found"),
    ("ack-unknown-occurrence", "POST", ACK, _ack("occurrence", "cbc:999"), JSON, 404, "not_found"),
    ("ack-upcoming-occurrence", "POST", ACK, _ack("occurrence", "cbc:1"), JSON, 422, "not_acknowledgeable"),
    ("ack-unknown-kind", "POST", ACK, _ack("infusion", "2026-11-19"), JSON, 422, VALIDATION),
    ("ack-unknown-action", "POST", ACK, _ack("occurrence", "cbc:1", action="ignored"), JSON, 422, VALIDATION),
    ("ack-empty-ref", "POST", ACK, _ack("finding", ""), JSON, 422, VALIDATION),
    ("ack-ref-with-hash", "POST", ACK, _ack("finding", "a#b"), JSON, 422, VALIDATION),
    ("ack-ref-too-long", "POST", ACK, _ack("finding", "r" * 161), JSON, 422, VALIDATION),
    ("ack-by-in-body", "POST", ACK, _with(_ack("occurrence", "cbc:1"), by="someone"), JSON, 422, VALIDATION),
]


def _dump() -> dict[str, list[str]]:
    """Every item of both tables, each as canonical JSON, sorted."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    tables: dict[str, list[str]] = {}
    for name in ("regimen-test", "idempotency-test"):
        items: list[str] = []
        for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            items.extend(json.dumps(item, sort_keys=True) for item in page["Items"])
        tables[name] = sorted(items)
    return tables


def _send(case: Case, patient_id: str) -> Answer:
    _, method, path, body, headers, _, _ = case
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    claims = ADMIN if path.startswith("/clinics/") and method == "PUT" else CLINICIAN
    return send(method, path.replace("{pid}", patient_id), claims=claims, headers=headers, body=raw)


@pytest.fixture
def recorded(api: Api, patient_id: str) -> str:
    """An enrolled patient with one infusion already recorded (so day-2 rules run too)."""
    assert api.infusion(patient_id, "2026-11-19").status == 201
    return patient_id


def test_the_corpus_is_refused_with_problem_codes_and_changes_nothing(recorded: str) -> None:
    before = _dump()
    wrong = []
    for case in CORPUS:
        answer = _send(case, recorded)
        name, *_, status, code = case
        body = answer.json() if answer.content_type == PROBLEM else None
        if answer.status != status or body is None or body.get("code") != code or body.get("status") != status:
            wrong.append(f"{name}: {answer.status} {answer.content_type} {answer.body[:200]!r}")
    assert wrong == [], "\n".join(wrong)
    assert _dump() == before
    assert len(CORPUS) >= 100


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_with(ENROLL, birth_date="2008-11-24"), 201),  # 18 today
        (_with(ENROLL, prior_dmt_count=50, contraindications=["hypersensitivity"]), 422),
    ],
    ids=["age-18y", "max-dmt-count-but-contraindicated"],
)
def test_enrollment_boundaries(api: Api, clinic: str, body: dict[str, Any], expected: int) -> None:
    answer = send("POST", "/patients", claims=CLINICIAN, headers=JSON, body=json.dumps(body).encode())
    assert answer.status == expected, answer.body


@pytest.mark.parametrize("dose", [100, 99.9999, 0.0001])
def test_dose_boundaries_inside_the_range_are_stored(api: Api, patient_id: str, dose: float) -> None:
    answer = api.infusion(patient_id, TODAY, dose_mg=dose)
    assert answer.status == 201, answer.raw
    assert "dose_not_12mg" in {deviation["code"] for deviation in answer.body["deviations"]}


def test_exactly_16_kb_is_parsed_not_refused(api: Api, patient_id: str) -> None:
    body = json.dumps(_with(RESULT, unit="x")).encode()
    padded = body[:-1] + b" " * (16 * 1024 - len(body)) + b"}"
    assert len(padded) == 16 * 1024
    answer = send("POST", f"/patients/{patient_id}/results", claims=CLINICIAN, headers=JSON, body=padded)
    assert answer.status == 201, answer.body
