"""POST /clinics/{clinic_id}/subscriptions: a clinician subscribes an e-mail to the clinic's daily digest."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.services.sweep_subscriptions import DigestSubscriptions, SubscriptionView
from lemtrada.web import idempotency
from lemtrada.web.api import (
    answer,
    current_actor,
    idempotent_write,
    new_resolver,
    problem_responses,
    resolve_write,
)
from lemtrada.web.models import SubscriptionIn
from lemtrada.web.params import ClinicId, IdempotencyKey

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()
app = new_resolver()


@cache
def _sns() -> Any:
    # Built on the first subscription, from the bootstrap's botocore session (the DynamoDB client's).
    from botocore.config import Config  # noqa: PLC0415

    config = Config(retries={"mode": "standard", "max_attempts": 5})
    return bootstrap.aws_session().create_client("sns", region_name=bootstrap.settings().region, config=config)


@app.post(
    "/clinics/<clinic_id>/subscriptions",
    tags=["clinics"],
    responses=problem_responses(404, 409, 413, 415, ok={202: "Subscribed: SNS sends a confirmation e-mail"}),
    status_code=202,
)
def subscribe(
    clinic_id: ClinicId, data: Annotated[SubscriptionIn, Body()], key: IdempotencyKey = None
) -> Response[SubscriptionView]:
    """Subscribe an e-mail to this clinic's digest (202: SNS sends a confirmation e-mail). Its clinicians only."""
    actor = current_actor(app)

    def write() -> idempotency.WriteAnswer:
        view = DigestSubscriptions(bootstrap.repository(), _sns, bootstrap.settings().topic_arn).subscribe(
            actor, clinic_id, data.email
        )
        metrics.add_metric(name="DigestSubscriptions", unit=MetricUnit.Count, value=1)
        return answer(202, view)

    return idempotent_write(app, data, write)  # type: ignore[return-value]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_write(app, event, context)
