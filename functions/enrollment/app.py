"""Clinics and enrollment: PUT /clinics/{clinic_id} (and its worklist rebuild), POST/GET /patients, PATCH
/patients/{patient_id}."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.regimen.records import InfusionRequest
from lemtrada.services.clinics import Clinics
from lemtrada.services.onboarding import HistoryInput
from lemtrada.services.patients import EnrollmentInput, Patients, PregnancyChange, ProfilePatch
from lemtrada.services.views import ClinicView, PatientPageView, PatientView, RebuildPageView
from lemtrada.services.worklist_rebuild import WorklistRebuild
from lemtrada.web import idempotency
from lemtrada.web.api import (
    answer,
    current_actor,
    etag,
    idempotent_write,
    if_match,
    new_resolver,
    ok,
    problem_responses,
    resolve_write,
)
from lemtrada.web.inputs import result_input
from lemtrada.web.models import HISTORY_BODY_BYTES, ClinicIn, EnrollmentIn, ProfilePatchIn, WorklistRebuildIn
from lemtrada.web.params import ClinicId, IdempotencyKey, IfMatch, PatientId

BODY_LIMITS = {"POST /patients": HISTORY_BODY_BYTES}
"""An enrollment may carry the patient's history (DESIGN 8); every other route keeps MAX_BODY_BYTES."""

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()
app = new_resolver()


@app.put(
    "/clinics/<clinic_id>",
    tags=["clinics"],
    responses=problem_responses(404, 409, 413, 415, ok={200: "Updated", 201: "Created"}),
)
def put_clinic(
    clinic_id: ClinicId, clinic: Annotated[ClinicIn, Body()], key: IdempotencyKey = None, match: IfMatch = None
) -> Response[ClinicView]:
    """Create (201) or update (200) a clinic. Admins only."""
    actor, expected = current_actor(app), if_match(app)

    def write() -> idempotency.WriteAnswer:
        use_case = Clinics(bootstrap.repository(), bootstrap.clock())
        saved = use_case.put_clinic(
            actor,
            clinic_id,
            name=clinic.name,
            timezone=clinic.timezone,
            label=clinic.label,
            digest_hour=clinic.digest_hour,
            reminder_hour=clinic.reminder_hour,
            if_match=expected,
        )
        return answer(201 if saved.created else 200, saved.view, etag(saved.view.version))

    return idempotent_write(app, clinic, write)  # type: ignore[return-value]


@app.post(
    "/clinics/<clinic_id>/worklist/rebuild",
    tags=["clinics"],
    description=(
        "Recompute the worklist projection (DESIGN 8) of a page of the clinic's patients, by patient id: those "
        "without one (`missing`, patients stored before the projection existed) or every one that differs "
        "(`all`, after a rule change). Call again with `next_cursor` until it is null; a page run twice writes "
        "nothing new. Admins only."
    ),
    responses=problem_responses(404, 413, 415, ok={200: "Page rebuilt"}),
)
def rebuild_worklist(
    clinic_id: ClinicId, request: Annotated[WorklistRebuildIn, Body()], key: IdempotencyKey = None
) -> Response[RebuildPageView]:
    """Recompute one page of the clinic's worklist projections; ``next_cursor`` continues."""
    actor = current_actor(app)

    def write() -> idempotency.WriteAnswer:
        use_case = WorklistRebuild(bootstrap.repository(), bootstrap.clock())
        page = use_case.rebuild_page(actor, clinic_id, limit=request.limit, cursor=request.cursor, scope=request.scope)
        metrics.add_metric(name="WorklistProjectionsRebuilt", unit=MetricUnit.Count, value=page.rebuilt)
        return answer(200, page)

    return idempotent_write(app, request, write)  # type: ignore[return-value]


@app.post(
    "/patients",
    tags=["patients"],
    description=(
        "Enroll a patient in the caller's clinic: 201, or 422 with the eligibility rule codes (nothing stored). "
        "A `birth_date` after the clinic's today is 422 `date_in_future`, like any date after it. An optional "
        "`history` carries what happened before enrollment (DESIGN 8): validated whole, 422 naming each bad entry "
        "(`history.infusions[3].date`), nothing stored; bodies up to 256 KB on this route (16 KB elsewhere)."
    ),
    responses=problem_responses(404, 409, 413, 415, ok={201: "Enrolled"}),
)
def enroll(data: Annotated[EnrollmentIn, Body()], key: IdempotencyKey = None) -> Response[PatientView]:
    """Enroll a patient in the caller's clinic: 201, or 422 with the eligibility rule codes (nothing stored); with
    ``history``, everything is validated first (422 naming each bad entry) and stored in one write."""
    actor = current_actor(app)
    history = None
    if data.history is not None:
        history = HistoryInput(
            infusions=tuple(InfusionRequest(**entry.model_dump()) for entry in data.history.infusions),
            results=tuple(result_input(entry) for entry in data.history.results),
        )
    request = EnrollmentInput(
        birth_date=data.birth_date,
        sex=data.sex,
        reproductive_potential=data.reproductive_potential,
        diagnosis=data.diagnosis,
        prior_dmt_count=data.prior_dmt_count,
        contraindications=frozenset(data.contraindications),
        justification=data.justification,
        patient_sub=data.patient_sub,
        external_ref=data.external_ref,
        rapidly_evolving_severe=data.rapidly_evolving_severe,
    )

    def write() -> idempotency.WriteAnswer:
        use_case = Patients(bootstrap.repository(), bootstrap.clock(), bootstrap.publisher())
        view = use_case.enroll(actor, request, history)
        metrics.add_metric(name="PatientEnrolled", unit=MetricUnit.Count, value=1)
        headers = {"Location": f"/patients/{view.patient_id}", **etag(view.version)}
        return answer(201, view, headers)

    return idempotent_write(app, data, write)  # type: ignore[return-value]


@app.get("/patients", tags=["patients"], responses=problem_responses(404))
def list_patients(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response[PatientPageView]:
    """The caller's clinic's patients, a page at a time (``next_cursor`` continues)."""
    page = Patients(bootstrap.repository(), bootstrap.clock()).list_patients(current_actor(app), limit, cursor)
    return ok(page)  # type: ignore[return-value]


@app.patch(
    "/patients/<patient_id>",
    tags=["patients"],
    description=(
        "Change pregnancy, active infection, reproductive potential or withdrawal; `If-Match` guards the version. "
        "A `pregnancy.date` after the clinic's today is 422 `date_in_future`."
    ),
    responses=problem_responses(404, 409, 413, 415),
)
def patch_patient(
    patient_id: PatientId,
    patch: Annotated[ProfilePatchIn, Body()],
    key: IdempotencyKey = None,
    match: IfMatch = None,
) -> Response[PatientView]:
    """Change pregnancy, active infection, reproductive potential or withdrawal; ``If-Match`` guards the version."""
    actor, expected = current_actor(app), if_match(app)
    change = ProfilePatch(
        pregnancy=PregnancyChange(patch.pregnancy.state, patch.pregnancy.date) if patch.pregnancy else None,
        active_infection=patch.active_infection,
        reproductive_potential=patch.reproductive_potential,
        withdrawn=patch.withdrawn,
    )

    def write() -> idempotency.WriteAnswer:
        view = Patients(bootstrap.repository(), bootstrap.clock()).patch_profile(actor, patient_id, change, expected)
        return answer(200, view, etag(view.version))

    return idempotent_write(app, patch, write)  # type: ignore[return-value]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: refuse oversized or non-JSON bodies, then route the HTTP API v2 event."""
    return resolve_write(app, event, context, body_limits=BODY_LIMITS)
