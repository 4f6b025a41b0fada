"""Sweep step 2 (one Map iteration): one shard of the due index, notices into the outbox, patients moved on.

Input: ``{"shard": n, "clinics": {clinic_id: {"date", "label"}}}``. Safe to retry as is: a patient already swept
for its date has its next_check past that date and is skipped; queued notices are never queued twice.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
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
    shard = int(event["shard"])
    clinics = RunPlan.clinics_from_json(event.get("clinics") or {})
    logger.append_keys(shard=shard)
    report = bootstrap.sweep().sweep_shard(shard, clinics)
    metrics.add_metric(name="PatientsExamined", unit=MetricUnit.Count, value=report.examined)
    metrics.add_metric(name="DueIndexRowsRead", unit=MetricUnit.Count, value=report.index_rows)
    metrics.add_metric(name="SweepConflicts", unit=MetricUnit.Count, value=report.conflicts)
    for kind, count in report.notices.items():
        with single_metric(name="NoticesQueued", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="kind", value=kind)
    logger.info("shard swept", extra=report.to_json())
    return report.to_json()
