"""Sweep step 3 (publish): one digest per clinic and local date from the outbox, each part marked sent at once.

Input: ``{"clinics": <the plan's clinics>, "run_id": <the execution holding them>}`` (the Catch path passes no
``run_id``: the leases stay open for a later run); ``{}`` publishes every clinic. Publishes leftovers of earlier
failed runs of those clinics too. Raises when a clinic's digest was not accepted, so the state
machine retries (only what is still pending goes out) and, past its retries, the run fails loudly.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.services.sweep import RunPlan

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    clinics = RunPlan.clinics_from_json(event["clinics"]) if isinstance(event.get("clinics"), dict) else None
    run_id = event.get("run_id") if isinstance(event.get("run_id"), str) else None
    report = bootstrap.sweep().publish(clinics, run_id)
    metrics.add_metric(name="DigestsSent", unit=MetricUnit.Count, value=len(report.sent))
    metrics.add_metric(name="DigestItemsSent", unit=MetricUnit.Count, value=sum(d.items for d in report.sent))
    result = report.to_json()
    logger.info("digests published", extra={"digests": len(report.sent)})
    return result
