"""Reading: a patient, its results, readiness, schedule (JSON, iCalendar), care plan (FHIR R4), a clinic's
worklist, /me, and the API docs."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.services.fhir_export import FHIR_JSON
from lemtrada.services.reading import Reading
from lemtrada.services.views import MeView, PatientView, ReadinessView, ResultsView, ScheduleView, WorklistView
from lemtrada.web.api import current_actor, new_resolver, ok, problem_responses
from lemtrada.web.models import IsoDate
from lemtrada.web.params import ClinicId, PatientId
from lemtrada.web.swagger import SCRIPT, STYLE, accepts_gzip, asset, openapi_document, swagger_page

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()
app = new_resolver()

OPENAPI_FILE = FilePath(__file__).with_name("openapi.json")
DOCUMENT_RESPONSE: dict[int, Any] = {
    200: {
        "description": "This document (OpenAPI 3.1)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}

FHIR_BUNDLE_RESPONSE: dict[int, Any] = {
    200: {
        "description": "The care plan as a FHIR R4 Bundle (type collection): Patient (no name), CarePlan, a Task per "
        "monitoring occurrence, an Observation per stored analyte (docs/INTEROP.md)",
        "content": {
            FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "required": ["resourceType", "type", "entry"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["Bundle"]},
                        "id": {"type": "string"},
                        "type": {"type": "string", "enum": ["collection"]},
                        "timestamp": {"type": "string"},
                        "entry": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["fullUrl", "resource"],
                                "properties": {"fullUrl": {"type": "string"}, "resource": {"type": "object"}},
                            },
                        },
                    },
                }
            }
        },
    }
}

GZIP_FROM_BYTES = 1024
"""Smaller answers go as they are: gzip's header and base64 would make them larger, not smaller."""


def _reading() -> Reading:
    return Reading(bootstrap.repository(), bootstrap.clock())


@app.get("/patients/<patient_id>", tags=["patients"], responses=problem_responses(404))
def get_patient(patient_id: PatientId) -> Response[PatientView]:
    """Profile, courses, status and key dates, as of the clinic's today."""
    return ok(_reading().get_patient(current_actor(app), patient_id))  # type: ignore[return-value]


@app.get("/patients/<patient_id>/results", tags=["patients"], responses=problem_responses(404))
def get_results(patient_id: PatientId) -> Response[ResultsView]:
    """Every result, newest first: values with units and reference ranges, findings, the occurrence satisfied."""
    return ok(_reading().results(current_actor(app), patient_id))  # type: ignore[return-value]


@app.get("/patients/<patient_id>/readiness", tags=["patients"], responses=problem_responses(404))
def get_readiness(patient_id: PatientId, start: Annotated[IsoDate | None, Query()] = None) -> Response[ReadinessView]:
    """Whether the next course may start on ``start`` (default today), its blockers and the earliest start."""
    return ok(_reading().readiness(current_actor(app), patient_id, start))  # type: ignore[return-value]


@app.get("/patients/<patient_id>/schedule", tags=["patients"], responses=problem_responses(404))
def get_schedule(patient_id: PatientId, as_of: Annotated[IsoDate | None, Query()] = None) -> Response[ScheduleView]:
    """Monitoring occurrences with their status, milestones and the end of monitoring, as of a date."""
    return ok(_reading().schedule(current_actor(app), patient_id, as_of))  # type: ignore[return-value]


@app.get(
    "/patients/<patient_id>/schedule.ics",
    tags=["patients"],
    responses=problem_responses(404, media="text/calendar"),
)
def get_schedule_ics(patient_id: PatientId) -> Response[str]:
    """The schedule as iCalendar (RFC 5545): one all-day event per occurrence and milestone, stable UIDs."""
    from lemtrada.services.calendar import schedule_ics  # noqa: PLC0415 - icalendar loads only for this route

    use_case = _reading()
    context, schedule = use_case.schedule_for_calendar(current_actor(app), patient_id)
    body = schedule_ics(context.stored.patient_id, schedule, use_case.clock())
    return Response(
        status_code=200,
        content_type="text/calendar; charset=utf-8",
        body=body.decode("utf-8"),
        headers={"Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="schedule.ics"'},
    )


@app.get("/patients/<patient_id>/fhir", tags=["patients"], responses={**problem_responses(404), **FHIR_BUNDLE_RESPONSE})
def get_patient_fhir(patient_id: PatientId) -> Response[str]:
    """The care plan for an EHR (DESIGN 10): a FHIR R4 Bundle of the patient (without name), its CarePlan, a Task per
    monitoring occurrence and an Observation per measured analyte, as of the clinic's today."""
    bundle = _reading().care_plan(current_actor(app), patient_id)
    return _compressible(json.dumps(bundle, separators=(",", ":"), ensure_ascii=False), FHIR_JSON)


def _compressible(body: str, content_type: str) -> Response[str]:
    """A private answer, gzipped when the client takes it: a care plan of five years is ~0.8 MB of JSON and ~60 KB
    gzipped (docs/PERFORMANCE.md). Base64 text, as API Gateway takes a binary body (see lemtrada.web.swagger)."""
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if len(body) < GZIP_FROM_BYTES or not accepts_gzip(app.current_event.headers.get("accept-encoding")):
        return Response(status_code=200, content_type=content_type, body=body, headers=headers)
    headers["Content-Encoding"] = "gzip"
    packed = base64.b64encode(gzip.compress(body.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")
    response = Response(status_code=200, content_type=content_type, body=packed, headers=headers)
    response.base64_encoded = True
    return response


@app.get("/clinics/<clinic_id>/worklist", tags=["clinics"], responses=problem_responses(404))
def get_worklist(
    clinic_id: ClinicId,
    date: Annotated[IsoDate | None, Query()] = None,
    severity: Annotated[Literal["critical", "major", "minor", "info"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response[WorklistView]:
    """What needs attention, grouped by patient, most urgent first (DESIGN 8): ``severity`` keeps patients with an
    item at least that severe, ``limit`` patients a page (1-200), ``next_cursor`` continues."""
    reading = _reading()
    view = reading.worklist(current_actor(app), clinic_id, date, severity=severity, limit=limit, cursor=cursor)
    return ok(view)  # type: ignore[return-value]


@app.get("/me", tags=["patients"], responses=problem_responses(404))
def get_me() -> Response[MeView]:
    """The calling patient's own record and schedule."""
    return ok(_reading().me(current_actor(app)))  # type: ignore[return-value]


@app.get("/docs", tags=["docs"], responses=problem_responses(ok={200: "Swagger UI"}, media="text/html"))
def get_docs() -> Response[str]:
    """Swagger UI over the merged document of every function. Public: a browser cannot send a token to open it."""
    return swagger_page()


@app.get("/openapi.json", tags=["docs"], responses={**problem_responses(), **DOCUMENT_RESPONSE})
def get_openapi() -> Response[str]:
    """The merged OpenAPI document of every function (the one /docs shows). Public: it describes, it holds no data."""
    return openapi_document(OPENAPI_FILE, app.current_event.headers.get("accept-encoding"))


@app.get(STYLE.route, include_in_schema=False)
def get_swagger_style() -> Response[str]:
    """Swagger UI's style sheet, from the layer (public, like /docs)."""
    return asset(STYLE, app.current_event.headers.get("accept-encoding"))


@app.get(SCRIPT.route, include_in_schema=False)
def get_swagger_script() -> Response[str]:
    """Swagger UI's script, from the layer (public, like /docs)."""
    return asset(SCRIPT, app.current_event.headers.get("accept-encoding"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: route the HTTP API v2 event (reads take no body and no idempotency key)."""
    return app.resolve(event, context)
