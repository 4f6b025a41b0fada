"""The hourly reminder run (DESIGN 9): each clinic at its own ``reminder_hour`` gets its patients' pushes.

EventBridge Scheduler invokes it every hour (asynchronously: Lambda retries a failed run twice, then its
dead-letter queue takes the event, and the error alarm fires). A clinic or patient whose pushes could not all be
queued or accepted fails the run after every other clinic was served, so the alarm sees it; the clinic's date stays
open and a later hour of the same day retries what is left (services.reminders). Logs carry counts and clinic ids
only: no patient, no token, no text.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.services.reminders import WORKERS, ReminderRun

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()


class ReminderRunFailed(RuntimeError):
    """Some pushes of this run were neither accepted nor given up: fail the invocation (retries, alarm)."""


def run_instant(event: dict[str, Any]) -> datetime:
    """The run's instant: ``now`` (ISO, with offset: a replay or the local stack) or the clock."""
    now = event.get("now") if isinstance(event, dict) else None
    if isinstance(now, str):
        instant = datetime.fromisoformat(now)
        if instant.tzinfo is None:
            raise ValueError("now must carry an offset")
        return instant
    return bootstrap.clock()()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    workers = int(os.environ.get("REMINDER_WORKERS") or WORKERS)  # tests under moto (not thread-safe) set 1
    run = ReminderRun(bootstrap.repository(), bootstrap.reminder_store(), bootstrap.push_gateway(), workers=workers)
    summary = run.run(run_instant(event), context.aws_request_id)
    result = summary.as_json()
    metrics.add_metric(name="RemindersPushed", unit=MetricUnit.Count, value=summary.pushed)
    metrics.add_metric(name="RemindersFailed", unit=MetricUnit.Count, value=summary.failed)
    metrics.add_metric(name="ReminderEndpointsDisabled", unit=MetricUnit.Count, value=summary.disabled)
    metrics.add_metric(name="RemindersExpired", unit=MetricUnit.Count, value=summary.expired)
    logger.info("reminders run", extra=result)
    if summary.failed:
        raise ReminderRunFailed(f"{summary.failed} reminder pushes or clinics failed; a later hour retries them")
    return result
