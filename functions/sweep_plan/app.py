"""Sweep step 1 (plan): the run's instant or date, each clinic's local date in its own time zone, the shards.

Input: EventBridge Scheduler's ``{"now": "<scheduled time>"}``, or ``{"date": "YYYY-MM-DD"}`` for a replay.
Output: the plan the Map state fans out over (small: one line per clinic).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = bootstrap.sweep().plan(event)
    metrics.add_metric(name="SweepClinics", unit=MetricUnit.Count, value=len(plan.clinics))
    result = plan.to_json()
    logger.info("sweep planned", extra={"through": result["through"], "clinics": len(plan.clinics)})
    return result
