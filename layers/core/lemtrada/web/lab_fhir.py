"""FHIR R4 in and out for the lab route (DESIGN 10): Observations read with plain JSON checks, answers shaped as
``batch-response`` Bundles and ``OperationOutcome``s.

Plain JSON on purpose: a FHIR model library (the tests validate inputs and answers with ``fhir.resources``) costs
the function's cold start a second or more, and only a dozen elements are read.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from typing import Any

from lemtrada.services.lab_results import EXTERNAL_REF, PATIENT_ID, LabObservation, LabOutcome, rejected

FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
SUBJECT_SYSTEMS = {"urn:lemtrada:external-ref": EXTERNAL_REF, "urn:lemtrada:patient-id": PATIENT_ID}
BUNDLE_TYPES = frozenset({"transaction", "batch", "collection"})
PROBLEM_SYSTEM = "urn:lemtrada:problem"
MAX_IDENTIFIER = 256
"""The longest lab identifier (value or system) kept: a bound on what a receipt stores."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_REASONS = {
    200: "200 OK",
    201: "201 Created",
    404: "404 Not Found",
    409: "409 Conflict",
    422: "422 Unprocessable Entity",
}
_ISSUE_CODES = {404: "not-found", 409: "conflict", 422: "processing"}


class Malformed(Exception):
    """The document is not one this route reads: 400 with an OperationOutcome, nothing stored."""


class TooMany(Exception):
    """More observations than one document may carry: 413."""


def parse_document(text: str, max_entries: int) -> list[LabObservation | LabOutcome]:
    """Each Observation of an Observation or a Bundle, or the outcome refusing the entry that is not one."""
    try:
        document = json.loads(text)
    except RecursionError as error:
        raise Malformed("the document nests too deeply") from error
    except ValueError as error:
        raise Malformed(f"not JSON: {error}") from error
    if not isinstance(document, dict):
        raise Malformed("the document must be one FHIR resource (a JSON object)")
    kind = document.get("resourceType")
    if kind == "Observation":
        return [read_observation(document, "Observation")]
    if kind != "Bundle":
        raise Malformed("resourceType must be Observation or Bundle")
    if document.get("type") not in BUNDLE_TYPES:
        raise Malformed("Bundle.type must be transaction, batch or collection")
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        raise Malformed("Bundle.entry must be an array")
    if len(entries) > max_entries:
        raise TooMany(f"a Bundle may carry at most {max_entries} entries, this one has {len(entries)}")
    parsed: list[LabObservation | LabOutcome] = []
    for number, entry in enumerate(entries):
        where = f"Bundle.entry[{number}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
            parsed.append(rejected(where, 422, "not_an_observation", "each entry's resource must be an Observation"))
            continue
        parsed.append(read_observation(resource, where))
    return parsed


def read_observation(resource: dict[str, Any], where: str) -> LabObservation | LabOutcome:
    """The elements DESIGN 10 reads, or a 422 outcome naming the element at fault."""
    status = resource.get("status")
    if not isinstance(status, str):
        return rejected(where, 422, "status_missing", "Observation.status is required")
    identifiers = resource.get("identifier")
    first = identifiers[0] if isinstance(identifiers, list) and identifiers else None
    value = first.get("value") if isinstance(first, dict) else None
    if not isinstance(value, str) or not value:
        return rejected(where, 422, "identifier_missing", "Observation.identifier[0].value (the lab's id) is required")
    system = first.get("system") if isinstance(first, dict) else None
    system = system if isinstance(system, str) else ""
    if len(value) > MAX_IDENTIFIER or len(system) > MAX_IDENTIFIER:
        detail = f"Observation.identifier[0].value and .system take at most {MAX_IDENTIFIER} characters"
        return rejected(where, 422, "identifier_invalid", detail)
    key = f"fhir|{system}|{value}"
    loinc = _loinc(resource.get("code"))
    if loinc is None:
        return rejected(where, 422, "loinc_missing", f"Observation.code.coding needs a coding of system {LOINC}")
    subject = _subject(resource.get("subject"))
    if subject is None:
        detail = "Observation.subject.identifier needs system urn:lemtrada:external-ref or urn:lemtrada:patient-id"
        return rejected(where, 422, "subject_invalid", detail)
    effective = _effective(resource.get("effectiveDateTime"))
    if effective is None:
        detail = "Observation.effectiveDateTime must be a full date (YYYY-MM-DD) or a date-time with its offset"
        return rejected(where, 422, "effective_invalid", detail)
    if status not in ("final", "amended", "corrected"):
        return LabObservation(where, key, subject[0], subject[1], loinc, effective, 0.0, "", status=status)
    quantity = resource.get("valueQuantity")
    number = _number(quantity.get("value") if isinstance(quantity, dict) else None)
    unit = quantity.get("code") if isinstance(quantity, dict) else None
    if number is None:
        return rejected(where, 422, "value_invalid", "Observation.valueQuantity.value must be a number")
    if not isinstance(unit, str) or not unit:
        return rejected(where, 422, "unit_missing", "Observation.valueQuantity.code (a UCUM unit) is required")
    bounds = _range(resource.get("referenceRange"))
    if bounds is None:
        return rejected(where, 422, "range_invalid", "referenceRange[0].low/high.value must be numbers")
    low, high = bounds
    if status in ("amended", "corrected"):
        # A correction keeps the lab's identifier (FHIR's usual way): what makes it new is its version, or, when
        # the lab sends none, the value it corrects to. The same correction again is still stored once.
        key = f"{key}|{status}|{_version(resource) or f'{number!r} {unit}'}"
    return LabObservation(where, key, subject[0], subject[1], loinc, effective, number, unit, low, high, status)


def _version(resource: dict[str, Any]) -> str | None:
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    return version if isinstance(version, str) and 0 < len(version) <= MAX_IDENTIFIER else None


def _number(raw: object) -> float | None:
    """A finite JSON number (not a boolean), or None (also for an integer too large for a float)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        number = float(raw)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _loinc(code: object) -> str | None:
    codings = code.get("coding") if isinstance(code, dict) else None
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, dict) and coding.get("system") == LOINC and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def _subject(subject: object) -> tuple[str, str] | None:
    identifier = subject.get("identifier") if isinstance(subject, dict) else None
    if not isinstance(identifier, dict):
        return None
    kind = SUBJECT_SYSTEMS.get(str(identifier.get("system")))
    value = identifier.get("value")
    if kind is None or not isinstance(value, str) or not value:
        return None
    return kind, value


def _effective(raw: object) -> date | datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        if _DATE.match(raw):
            return date.fromisoformat(raw)
        if _DATETIME.match(raw):
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return None


def _range(ranges: object) -> tuple[float | None, float | None] | None:
    """(low, high) of referenceRange[0]; None when a bound is present but not a number."""
    first = ranges[0] if isinstance(ranges, list) and ranges else None
    if not isinstance(first, dict):
        return None, None
    bounds: list[float | None] = []
    for name in ("low", "high"):
        bound = first.get(name)
        if bound is None:
            bounds.append(None)
            continue
        number = _number(bound.get("value") if isinstance(bound, dict) else None)
        if number is None:
            return None
        bounds.append(number)
    return bounds[0], bounds[1]


# ---- answers ------------------------------------------------------------------------------------------------
def operation_outcome(status: int, code: str, detail: str, *, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue; ``code`` (this API's machine-readable code) in ``details``."""
    issue_code = "informational" if severity == "information" else _ISSUE_CODES.get(status, "invalid")
    if status == 400:
        issue_code = "structure"
    if status == 413:
        issue_code = "too-costly"
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": issue_code,
                "details": {"coding": [{"system": PROBLEM_SYSTEM, "code": code}], "text": detail},
                "diagnostics": f"{code}: {detail}",
            }
        ],
    }


def batch_response(outcomes: list[LabOutcome]) -> dict[str, Any]:
    """One entry per Observation, in the document's order."""
    entries = []
    for outcome in outcomes:
        response: dict[str, Any] = {"status": _REASONS.get(outcome.status, str(outcome.status))}
        if outcome.result_id is not None and outcome.analyte is not None:
            response["location"] = f"Observation/{outcome.result_id}-{outcome.analyte.replace('_', '-')}"
        if outcome.code is not None:
            severity = "error" if outcome.failed else "information"
            response["outcome"] = operation_outcome(
                outcome.status, outcome.code, outcome.detail or outcome.code, severity=severity
            )
        entries.append({"response": response})
    return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
