"""Recording facts: POST /patients/{patient_id}/infusions, /results and /acknowledgements."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.regimen.records import InfusionRequest
from lemtrada.services.acknowledgements import AcknowledgementInput, Acknowledging
from lemtrada.services.recording import Recording
from lemtrada.services.views import AcknowledgementView, InfusionView, ResultView
from lemtrada.web import idempotency
from lemtrada.web.api import answer, idempotent_write, new_resolver, problem_responses, resolve_write
from lemtrada.web.api import current_actor as caller
from lemtrada.web.inputs import result_input
from lemtrada.web.models import AcknowledgementIn, InfusionIn, ResultIn
from lemtrada.web.params import IdempotencyKey, PatientId

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()
app = new_resolver()


def _recording() -> Recording:
    return Recording(bootstrap.repository(), bootstrap.clock(), bootstrap.publisher())


@app.post(
    "/patients/<patient_id>/infusions",
    tags=["recording"],
    responses=problem_responses(404, 409, 413, 415, ok={200: "Identical replay: the stored infusion", 201: "Recorded"}),
)
def record_infusion(
    patient_id: PatientId, data: Annotated[InfusionIn, Body()], key: IdempotencyKey = None
) -> Response[InfusionView]:
    """201 with course, day and deviations; 200 with the stored infusion for an identical replay; 409 otherwise."""
    actor = caller(app)
    request = InfusionRequest(**data.model_dump())

    def write() -> idempotency.WriteAnswer:
        recorded = _recording().record_infusion(actor, patient_id, request)
        if recorded.created:
            metrics.add_metric(name="InfusionRecorded", unit=MetricUnit.Count, value=1)
            deviations = len(recorded.view.deviations)
            metrics.add_metric(name="DeviationsRecorded", unit=MetricUnit.Count, value=deviations)
        return answer(201 if recorded.created else 200, recorded.view)

    return idempotent_write(app, data, write)  # type: ignore[return-value]


@app.post(
    "/patients/<patient_id>/results",
    tags=["recording"],
    responses=problem_responses(404, 409, 413, 415, ok={201: "Recorded"}),
)
def record_result(
    patient_id: PatientId, data: Annotated[ResultIn, Body()], key: IdempotencyKey = None
) -> Response[ResultView]:
    """201 with the monitoring occurrence the result satisfied (``satisfied``: null when none), the analytes as
    stored and the safety findings the result raised (422 naming the field for a bad analyte, nothing stored)."""
    actor = caller(app)
    request = result_input(data)

    def write() -> idempotency.WriteAnswer:
        view = _recording().record_result(actor, patient_id, request)
        metrics.add_metric(name="ResultRecorded", unit=MetricUnit.Count, value=1)
        return answer(201, view)

    return idempotent_write(app, data, write)  # type: ignore[return-value]


@app.post(
    "/patients/<patient_id>/acknowledgements",
    tags=["recording"],
    responses=problem_responses(
        404, 409, 413, 415, ok={200: "Acknowledged before: the stored acknowledgement", 201: "Acknowledged"}
    ),
)
def acknowledge(
    patient_id: PatientId, data: Annotated[AcknowledgementIn, Body()], key: IdempotencyKey = None
) -> Response[AcknowledgementView]:
    """A clinician acknowledges a finding (``ref``: finding_id), a deviation (``<infusion date>:<code>``) or an
    overdue/missed occurrence (``<item>:<k>``): 201, or 200 with the stored one; unknown ref 404; an occurrence
    not overdue or missed 422 ``not_acknowledgeable``."""
    actor = caller(app)
    request = AcknowledgementInput(kind=data.kind, ref=data.ref, action=data.action)

    def write() -> idempotency.WriteAnswer:
        recorded = Acknowledging(bootstrap.repository(), bootstrap.clock()).acknowledge(actor, patient_id, request)
        if recorded.created:
            metrics.add_metric(name="AcknowledgementRecorded", unit=MetricUnit.Count, value=1)
        return answer(201 if recorded.created else 200, recorded.view)

    return idempotent_write(app, data, write)  # type: ignore[return-value]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: refuse oversized or non-JSON bodies, then route the HTTP API v2 event."""
    return resolve_write(app, event, context)
