"""POST /clinics/{clinic_id}/lab-results: lab results delivered as FHIR R4 Observations or HL7 v2 ORU^R01
messages by a clinic's lab interface (DESIGN 10), answered in the sender's language.

A function of its own: it ships the ``hl7`` parser (its requirements.txt), which the other functions' cold start
does not pay for. The body is read here, not by a validating resolver: neither format is the API's JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.services.errors import NotFound, ServiceError
from lemtrada.services.lab_results import LabIngest, LabObservation, LabOutcome
from lemtrada.storage.ports import StoredClinic
from lemtrada.web import lab_fhir, lab_hl7
from lemtrada.web.api import Problem, new_resolver
from lemtrada.web.params import ClinicId
from lemtrada.web.principal import actor_from_claims, claims_of
from lemtrada.web.problems import PROBLEM_JSON, problem

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()
app = new_resolver()

MAX_BODY_BYTES = 2 * 1024 * 1024
"""A month's panels of a large clinic fit in a few documents; larger bodies are refused before parsing (413)."""
MAX_OBSERVATIONS = 1000
"""Observations (Bundle entries, OBX segments) per document; more: 413. 500 observations take about 5 s."""


def _ingest() -> LabIngest:
    return LabIngest(bootstrap.repository(), bootstrap.clock(), bootstrap.publisher())


def _answer(status: int, media: str, body: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": media, "Cache-Control": "no-store"},
        "body": body,
        "isBase64Encoded": False,
    }


def _fhir(status: int, resource: dict[str, Any]) -> dict[str, Any]:
    return _answer(status, lab_fhir.FHIR_JSON, json.dumps(resource, separators=(",", ":")))


def _problem(status: int, code: str, title: str, detail: str) -> dict[str, Any]:
    response = problem(status, code, title, detail)
    return _answer(status, PROBLEM_JSON, str(response.body))


def _body(event: dict[str, Any]) -> str | None:
    raw = str(event.get("body") or "")
    if not event.get("isBase64Encoded"):
        return raw
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _media(event: dict[str, Any]) -> str:
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    return headers.get("content-type", "").split(";", maxsplit=1)[0].strip().lower()


def _count(outcomes: list[LabOutcome]) -> None:
    metrics.add_metric(
        name="LabObservationsStored", unit=MetricUnit.Count, value=sum(o.status == 201 for o in outcomes)
    )
    metrics.add_metric(name="LabObservationsFailed", unit=MetricUnit.Count, value=sum(o.failed for o in outcomes))


def _outcomes(
    event: dict[str, Any], parsed: list[LabObservation | LabOutcome], clinic: StoredClinic
) -> list[LabOutcome]:
    """The service's outcomes merged with the entries the parser refused, in document order."""
    actor = actor_from_claims(claims_of(event))
    clinic_id = str((event.get("pathParameters") or {}).get("clinic_id", ""))
    if actor is None:
        raise NotFound("no such clinic")
    observations = [one for one in parsed if isinstance(one, LabObservation)]
    stored = iter(_ingest().ingest(actor, clinic_id, observations, authorised=clinic))
    return [next(stored) if isinstance(one, LabObservation) else one for one in parsed]


def _authorised(event: dict[str, Any]) -> StoredClinic | None:
    """The clinic, when the caller is its lab interface."""
    actor = actor_from_claims(claims_of(event))
    clinic_id = str((event.get("pathParameters") or {}).get("clinic_id", ""))
    if actor is None:
        return None
    try:
        return _ingest().authorise(actor, clinic_id)
    except ServiceError:
        return None


def _fhir_request(event: dict[str, Any], text: str, clinic: StoredClinic) -> dict[str, Any]:
    try:
        parsed = lab_fhir.parse_document(text, MAX_OBSERVATIONS)
    except lab_fhir.TooMany as error:
        return _fhir(413, lab_fhir.operation_outcome(413, "too_many_entries", str(error)))
    except lab_fhir.Malformed as error:
        return _fhir(400, lab_fhir.operation_outcome(400, "malformed_document", str(error)))
    outcomes = _outcomes(event, parsed, clinic)
    _count(outcomes)
    return _fhir(200, lab_fhir.batch_response(outcomes))


def _hl7_request(event: dict[str, Any], text: str, clinic: StoredClinic) -> dict[str, Any]:
    clinic_id = str((event.get("pathParameters") or {}).get("clinic_id", ""))
    now = bootstrap.clock()()
    ack_id = uuid.uuid4().hex[:20]
    try:
        parsed = lab_hl7.parse_message(text, MAX_OBSERVATIONS)
    except lab_hl7.TooMany as error:
        return _answer(413, lab_hl7.HL7_V2, lab_hl7.reject(text, str(error), clinic_id, now, ack_id))
    except lab_hl7.Malformed as error:
        refusal = lab_hl7.reject(text, str(error), clinic_id, now, ack_id, error=error.error)
        return _answer(400, lab_hl7.HL7_V2, refusal)
    outcomes = _outcomes(event, parsed.observations, clinic)
    _count(outcomes)
    return _answer(200, lab_hl7.HL7_V2, lab_hl7.ack(parsed, outcomes, clinic_id, now, ack_id))


_FHIR_OR_HL7 = {
    lab_fhir.FHIR_JSON: {"schema": {"type": "object", "description": "FHIR R4 Bundle or OperationOutcome"}},
    lab_hl7.HL7_V2: {"schema": {"type": "string", "description": "HL7 v2.5 ACK (ER7)"}},
}
_PROBLEM = {PROBLEM_JSON: {"model": Problem}}
RESPONSES: dict[int, Any] = {
    200: {
        "description": "A batch-response Bundle (one entry per Observation) or an ACK (AA, or AE with ERR segments)",
        "content": _FHIR_OR_HL7,
    },
    400: {
        "description": "Not a document this route reads (OperationOutcome, or ACK AR): nothing stored",
        "content": _FHIR_OR_HL7,
    },
    404: {"description": "Not a lab interface of this clinic (or no such clinic)", "content": _PROBLEM},
    413: {"description": "Body over 2 MB or more than 1,000 observations", "content": {**_FHIR_OR_HL7, **_PROBLEM}},
    415: {"description": "Neither application/fhir+json nor application/hl7-v2", "content": _PROBLEM},
    422: {"description": "A malformed path parameter (validation_error)", "content": _PROBLEM},
}


@app.post("/clinics/<clinic_id>/lab-results", tags=["lab interfaces"], responses=RESPONSES)
def deliver_lab_results(clinic_id: ClinicId) -> Response[str]:
    """A lab's results as ``application/fhir+json`` (an Observation, or a Bundle of type transaction, batch or
    collection) or ``application/hl7-v2`` (an ORU^R01 in ER7), by the clinic's lab interface (group
    ``lab_interfaces``). Each observation succeeds or fails on its own; the same lab identifier or message control
    id again stores nothing new. Answered in the sender's format (docs/INTEROP.md)."""
    event = app.current_event.raw_event
    clinic = _authorised(event)
    if clinic is None:
        raise NotFound("no such clinic")
    media = _media(event)
    if media not in (lab_fhir.FHIR_JSON, lab_hl7.HL7_V2):
        detail = f"lab results are {lab_fhir.FHIR_JSON} or {lab_hl7.HL7_V2}"
        return problem(415, "unsupported_media_type", "Unsupported media type", detail)
    text = _body(event)
    if text is None:
        detail = "the body is not UTF-8 text"
        if media == lab_fhir.FHIR_JSON:
            answer = _fhir(400, lab_fhir.operation_outcome(400, "malformed_document", detail))
        else:
            now = bootstrap.clock()()
            answer = _answer(400, lab_hl7.HL7_V2, lab_hl7.reject("", detail, clinic_id, now, uuid.uuid4().hex[:20]))
    elif media == lab_fhir.FHIR_JSON:
        answer = _fhir_request(event, text, clinic)
    else:
        answer = _hl7_request(event, text, clinic)
    return Response(
        status_code=answer["statusCode"],
        content_type=answer["headers"]["Content-Type"],
        body=answer["body"],
        headers={"Cache-Control": "no-store"},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The size is checked before anything reads the body (413 in the sender's language where it is known)."""
    raw = str(event.get("body") or "")
    size = len(raw) * 3 // 4 if event.get("isBase64Encoded") else len(raw.encode())
    if size > MAX_BODY_BYTES:
        detail = f"bodies are limited to {MAX_BODY_BYTES} bytes"
        if _media(event) == lab_fhir.FHIR_JSON:
            return _fhir(413, lab_fhir.operation_outcome(413, "payload_too_large", detail))
        return _problem(413, "payload_too_large", "Payload too large", detail)
    return app.resolve(event, context)
