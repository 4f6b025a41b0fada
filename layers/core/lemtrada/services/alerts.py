"""Delivering owed alerts (DESIGN 7 "Critical alerts at once"): publish, then forget; leftovers drained later.

The write that stores a critical finding or deviation also stores its alert as owed (one transaction), so the
crash points are: before the commit (nothing owed, nothing sent); after the commit, before the publish (the
alert stays owed and the drain sends it once); after the publish, before ``alert_sent`` (the drain sends it
again: the one duplicate window, as the digest's). The writer delivers its own alerts before answering; the
sweep's publish step drains what is left, skipping alerts younger than ``DRAIN_GRACE`` so that it does not race
a writer still delivering.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lemtrada.notify.alert import AlertMessage
from lemtrada.notify.publisher import DigestPublisher, PublishError
from lemtrada.regimen.alerts import Alert
from lemtrada.storage.ports import PatientRepository

logger = logging.getLogger(__name__)

DRAIN_GRACE = timedelta(minutes=1)
"""The drain leaves alerts owed for less than this to their writer (which publishes them before answering)."""


@dataclass(slots=True)
class AlertReport:
    sent: list[str] = field(default_factory=list)  # message ids
    failed: int = 0


class AlertDelivery:
    """Publishes owed alerts on the digest topic and forgets each once SNS accepted it."""

    def __init__(self, repository: PatientRepository, publisher: DigestPublisher) -> None:
        self.repository = repository
        self.publisher = publisher

    def deliver(self, alerts: Iterable[Alert]) -> AlertReport:
        """Publish each alert, then forget it; a failure leaves it owed for the drain (logged without PHI)."""
        report = AlertReport()
        for alert in alerts:
            try:
                message_id = self.publisher.publish(AlertMessage(alert))
            except PublishError:
                logger.warning("alert not accepted; left owed", extra={"clinic_id": alert.clinic_id})
                report.failed += 1
                continue
            # The one duplicate window: SNS has the alert, the table does not know yet. Nothing runs in between.
            # A failure to forget it must not fail the write that owed it (already committed): an error answer
            # would make the caller retry and store the fact, and alert, a second time. It stays owed instead.
            try:
                self.repository.alert_sent(alert)
            except Exception:
                logger.warning("alert sent but not forgotten; left owed", extra={"clinic_id": alert.clinic_id})
            report.sent.append(message_id)
        return report

    def drain(self, clinic_id: str, now: datetime, grace: timedelta = DRAIN_GRACE) -> AlertReport:
        """Deliver the clinic's alerts owed since before ``now - grace`` (writers that crashed or failed)."""
        owed = self.repository.owed_alerts(clinic_id, owed_before=now - grace)
        return self.deliver(o.alert for o in owed)
