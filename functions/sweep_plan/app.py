"""Sweep step 1 (plan): the run's instant or date, each clinic's local date in its own time zone, the shards.

Input (from the state machine): ``{"input": <the execution's input>, "execution": <its id>}``; the execution's
input is EventBridge Scheduler's hourly ``{"now": "<scheduled time>"}`` (the clinics whose morning it is, under a
lease held by this execution), or ``{"date": "YYYY-MM-DD"}`` to force a date for every clinic (a replay).
Output: the plan the Map state fans out over (small: one line per clinic; ``idle`` when none is due).
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
    metrics.add_metric(name="SweepClinicsLate", unit=MetricUnit.Count, value=plan.late)
    result = plan.to_json()
    logger.info("sweep planned", extra={"through": result["through"], "clinics": len(plan.clinics), "late": plan.late})
    return result
