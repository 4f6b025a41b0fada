"""Delivering owed alerts (DESIGN 7 "Critical alerts at once"): claim, publish, then forget.

The write that stores a critical finding or deviation also stores its alert as owed, already claimed by the
writer for ``WRITER_LEASE`` (one transaction). Three deliverers may then race on it: the writer (before it
answers), the minute drain (functions/alert_drain) and the nightly sweep's publish step. Each publishes only an
alert it holds: the writer holds its own from the write on; a drain first takes it with a conditional write that
succeeds only once the lease before it has run out, for ``DRAIN_LEASE``. A lease outlasts whatever its holder
can still do (its function's timeout, one publish's ``PUBLISH_BOUND``), so two holders never overlap.

Crash points: before the commit, nothing owed and nothing sent; after the commit (or a drain's claim) and before
the publish, the alert waits out the lease and is drained once; SNS refused, the claim is given back and the
next drain (within the minute) sends it; after the publish and before ``alert_sent``, the next holder sends it
again once the lease ran out: the one duplicate window, as the digest's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lemtrada.notify.alert import AlertMessage
from lemtrada.notify.publisher import DigestPublisher, PublishError
from lemtrada.regimen.alerts import Alert
from lemtrada.storage.ports import ALERT_WRITER, OwedAlert, PatientRepository

logger = logging.getLogger(__name__)

DRAIN_LEASE = timedelta(seconds=60)
"""How long a drain's claim keeps the other deliverers off: more than one publish can take (50 s,
``notify.publisher.PUBLISH_BOUND``); a drain that dies holding it is followed within this + one minute."""


def _new_holder() -> str:
    return uuid.uuid4().hex


def _never() -> bool:
    return False


@dataclass(slots=True)
class AlertReport:
    sent: list[str] = field(default_factory=list)  # message ids
    failed: int = 0  # SNS refused (given back, or left to its lease)
    held: int = 0  # another deliverer holds it (the writer, a drain, the sweep): theirs to send
    deferred: int = 0  # left unclaimed for the next run: this one was running out of time
    oldest_owed_seconds: float = 0.0  # of those still owed after this pass (what the five-minute alarm reads)

    def add(self, other: AlertReport) -> None:
        self.sent.extend(other.sent)
        self.failed += other.failed
        self.held += other.held
        self.deferred += other.deferred
        self.oldest_owed_seconds = max(self.oldest_owed_seconds, other.oldest_owed_seconds)


class AlertDelivery:
    """Publishes owed alerts it holds on the digest topic and forgets each once SNS accepted it."""

    def __init__(
        self,
        repository: PatientRepository,
        publisher: DigestPublisher,
        *,
        lease: timedelta = DRAIN_LEASE,
        new_holder: Callable[[], str] = _new_holder,
    ) -> None:
        self.repository = repository
        self.publisher = publisher
        self.lease = lease
        self.new_holder = new_holder

    def deliver(self, alerts: Iterable[Alert]) -> AlertReport:
        """The writer's alerts, held by the write itself: publish each, then forget it; SNS refusing gives the
        claim back so that the minute drain sends it (logged without PHI)."""
        report = AlertReport()
        for alert in alerts:
            self._publish_held(alert, ALERT_WRITER, report)
        return report

    def drain(self, clinic_id: str, now: datetime, *, out_of_time: Callable[[], bool] = _never) -> AlertReport:
        """Deliver the clinic's owed alerts nobody holds (their writer or drain died, or SNS refused them); once
        ``out_of_time`` says so, claim no more (they stay owed, unclaimed, for the next run)."""
        report = AlertReport()
        still_owed: list[OwedAlert] = []
        for owed in self.repository.owed_alerts(clinic_id):
            if out_of_time():
                report.deferred += 1
                still_owed.append(owed)
                continue
            if owed.held(now):
                report.held += 1
                still_owed.append(owed)
                continue
            holder = self.new_holder()
            if not self.repository.claim_alert(owed.alert, holder, now, now + self.lease):
                report.held += 1  # another drain took it between the read and the claim
                still_owed.append(owed)
                continue
            if not self._publish_held(owed.alert, holder, report):
                still_owed.append(owed)
        ages = [(now - owed.owed_at).total_seconds() for owed in still_owed]
        report.oldest_owed_seconds = max([0.0, *ages])
        return report

    def drain_all(self, now: datetime, *, out_of_time: Callable[[], bool] = _never) -> AlertReport:
        """Every clinic's leftovers (the minute drain): one Query of the clinics, then one per clinic. A clinic whose
        read fails does not hold up the others; the error is raised at the end (the run fails, its alarm fires)."""
        report = AlertReport()
        errors = 0
        for stored in self.repository.list_clinics():
            clinic_id = stored.clinic.clinic_id
            try:
                report.add(self.drain(clinic_id, now, out_of_time=out_of_time))
            except Exception:
                logger.exception("owed alerts not drained", extra={"clinic_id": clinic_id})
                errors += 1
        if errors:
            raise AlertDrainError(f"owed alerts of {errors} clinic(s) could not be read; the next minute retries")
        return report

    def _publish_held(self, alert: Alert, holder: str, report: AlertReport) -> bool:
        """Publish an alert ``holder`` holds, then forget it; True once SNS accepted it."""
        try:
            message_id = self.publisher.publish(AlertMessage(alert))
        except PublishError:
            logger.warning("alert not accepted; given back to the drain", extra={"clinic_id": alert.clinic_id})
            report.failed += 1
            try:
                self.repository.release_alert(alert, holder)
            except Exception:  # the lease runs out instead
                logger.warning("alert claim not given back; its lease runs out", extra={"clinic_id": alert.clinic_id})
            return False
        # The one duplicate window: SNS has the alert, the table does not know yet. Nothing runs in between.
        # A failure to forget it must not fail the write that owed it (already committed): an error answer
        # would make the caller retry and store the fact, and alert, a second time. It stays owed instead.
        try:
            self.repository.alert_sent(alert, holder)
        except Exception:
            logger.warning("alert sent but not forgotten; left owed", extra={"clinic_id": alert.clinic_id})
        report.sent.append(message_id)
        return True


class AlertDrainError(RuntimeError):
    """Some clinic's owed alerts could not be read this pass."""
