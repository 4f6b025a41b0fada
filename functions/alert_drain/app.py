"""The minute drain of owed critical alerts (DESIGN 7 "Critical alerts at once").

EventBridge Scheduler invokes it once a minute. It publishes every alert still owed that nobody holds (its writer
died, or SNS refused it), each claimed first so that the writer, another drain and the nightly sweep never send
it twice (services.alerts), and reports the age of the oldest alert still owed: the alarm's five-minute metric.
A clinic whose owed alerts cannot be read fails the run (after the others), so its dead-letter queue and alarm
see it; SNS refusing an alert does not (the claim is given back; the next minute retries).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.services.alerts import AlertDelivery

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()
RESERVE_MS = 3_000
"""A run stops claiming when less than this is left of its 30 s timeout: an alert's claim, publish and delete took
about 125 ms on the loaded local stack (docs/PERFORMANCE.md), so a claim is not cut short and left held."""


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    delivery = AlertDelivery(bootstrap.repository(), bootstrap.publisher())

    def out_of_time() -> bool:  # claim nothing a timeout could cut short; the next minute takes the rest
        return context.get_remaining_time_in_millis() < RESERVE_MS

    report = delivery.drain_all(bootstrap.clock()(), out_of_time=out_of_time)
    metrics.add_metric(name="AlertsDrained", unit=MetricUnit.Count, value=len(report.sent))
    metrics.add_metric(name="AlertsNotAccepted", unit=MetricUnit.Count, value=report.failed)
    metrics.add_metric(name="OldestOwedAlertSeconds", unit=MetricUnit.Seconds, value=report.oldest_owed_seconds)
    result = {
        "sent": len(report.sent),
        "failed": report.failed,
        "held": report.held,
        "deferred": report.deferred,
        "oldest_owed_seconds": report.oldest_owed_seconds,
    }
    logger.info("owed alerts drained", extra=result)
    return result
