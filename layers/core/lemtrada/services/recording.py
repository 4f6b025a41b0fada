"""Recording what happened: infusions (course, day and deviations decided once, stored with the fact) and results."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, replace
from datetime import date

from lemtrada.notify.publisher import DigestPublisher
from lemtrada.regimen import (
    AnalytesRejected,
    InfusionOnSameDate,
    InfusionRejected,
    Protocol,
    add_result,
    check_analytes,
    is_replay,
    next_check,
    plan_infusion,
    protocol_for,
    satisfied_occurrence,
)
from lemtrada.regimen.alerts import Alert, deviation_alerts, finding_alerts
from lemtrada.regimen.records import Analyte, InfusionRequest, Result, ResultItem, TbStatus, VzvStatus
from lemtrada.services.acknowledgements import settled
from lemtrada.services.actor import Actor, Clock
from lemtrada.services.alerts import AlertDelivery
from lemtrada.services.base import UseCase, retry_on_conflict
from lemtrada.services.errors import Conflict, RuleRejected, ValidationFailed, Violation
from lemtrada.services.presenters import infusion_view, result_view
from lemtrada.services.views import InfusionView, ResultView
from lemtrada.services.worklists import projection_update, with_changes_on
from lemtrada.storage.ports import AlreadyExists, PatientRepository, VersionConflict

_STATUS_VALUES: dict[ResultItem, frozenset[str]] = {
    ResultItem.VZV: frozenset(VzvStatus),
    ResultItem.TB_SCREENING: frozenset(TbStatus),
}


@dataclass(frozen=True, slots=True)
class ResultInput:
    item: ResultItem
    date: date
    value: float | None = None
    unit: str | None = None
    status: str | None = None
    analytes: tuple[Analyte, ...] = ()


@dataclass(frozen=True, slots=True)
class InfusionRecorded:
    view: InfusionView
    created: bool  # False: an identical replay of the infusion stored on that date


def new_result_id() -> str:
    """12 random base32 characters (60 bits): unique within the patient's results, which is all a result id needs
    (storing one is conditional on its date and id being new); short because every stored result carries it."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii")[:12].lower()


class Recording(UseCase):
    """Records facts; with a ``publisher`` it also publishes the alerts they owe before answering (DESIGN 7).

    The owed alerts are stored with the fact either way; without a publisher (or when publishing fails) they wait
    for the drain of the sweep's publish step."""

    def __init__(self, repository: PatientRepository, clock: Clock, publisher: DigestPublisher | None = None) -> None:
        super().__init__(repository, clock)
        self.alerts = None if publisher is None else AlertDelivery(repository, publisher)

    def _deliver(self, alerts: tuple[Alert, ...]) -> None:
        if self.alerts is not None and alerts:
            self.alerts.deliver(alerts)

    def record_result(self, actor: Actor, patient_id: str, data: ResultInput) -> ResultView:
        """Store a result with the findings it raises (and those it adds to results dated after it, in the same
        write), and answer which monitoring occurrence (if any) it satisfied. Bad analytes: 422, nothing stored."""
        result = Result(
            result_id=new_result_id(),
            item=data.item,
            date=data.date,
            value=data.value,
            unit=data.unit,
            status=_checked_status(data),
            analytes=data.analytes,
        )

        def attempt() -> tuple[ResultView, tuple[Alert, ...]]:
            context = self.patient(actor, patient_id, write=True)
            protocol = protocol_for(context.clinic.clinic.label)
            _check_analytes(data, protocol)
            if data.date > context.today:
                raise ValidationFailed(
                    "a result cannot be dated after the clinic's today",
                    code="date_in_future",
                    violations=[Violation("date_in_future", f"after {context.today.isoformat()}", field="date")],
                )
            record, added = add_result(context.record, result, protocol)
            changed = {found.result_id for found in added}
            stored = next(r for r in record.results if r.result_id == result.result_id)
            updated = [r for r in record.results if r.result_id in changed and r.result_id != result.result_id]
            upcoming = next_check(record, settled(context.stored), protocol, after=context.stored.swept_through)
            label = context.clinic.clinic.label
            worklist = projection_update(context.stored, record, context.stored.acknowledgements, context.today, label)
            upcoming = with_changes_on(upcoming, worklist, context.stored)
            audit = self.audit(
                actor, context.role, "result.recorded", f"RESULT#{data.date.isoformat()}#{result.result_id}"
            )
            profile = context.record.profile
            alerts = finding_alerts(profile.clinic_id, patient_id, profile.enrollment.enrolled_on, added)
            self.repository.add_result(
                patient_id,
                stored,
                context.stored.version,
                upcoming,
                audit,
                updated=updated,
                alerts=alerts,
                worklist=worklist,
            )
            own = [f for f in added if f.result_id == result.result_id]
            raised = [*own, *(f for f in added if f.result_id != result.result_id)]
            view = result_view(stored, satisfied_occurrence(record, result.result_id, context.today, protocol), raised)
            return view, alerts

        view, alerts = retry_on_conflict(attempt)
        self._deliver(alerts)
        return view

    def record_infusion(self, actor: Actor, patient_id: str, request: InfusionRequest) -> InfusionRecorded:
        """Plan with the rules (422 / 409 / replay), then append; a concurrent write makes it re-plan."""

        def attempt() -> tuple[InfusionRecorded, tuple[Alert, ...]]:
            context = self.patient(actor, patient_id, write=True)
            protocol = protocol_for(context.clinic.clinic.label)
            try:
                infusion = plan_infusion(context.record, request, context.today, protocol)
            except InfusionRejected as rejected:
                raise RuleRejected(
                    "the infusion cannot be recorded as sent",
                    [Violation(f.code, f.detail, source=f.source) for f in rejected.errors],
                ) from rejected
            except InfusionOnSameDate as same_day:
                if is_replay(same_day.existing, request):
                    return InfusionRecorded(infusion_view(same_day.existing), created=False), ()
                raise Conflict(
                    f"an infusion is already recorded on {request.date.isoformat()}", code="duplicate_infusion"
                ) from same_day
            infusions = tuple(sorted((*context.record.infusions, infusion), key=lambda i: i.date))
            record = replace(context.record, infusions=infusions)
            upcoming = next_check(record, settled(context.stored), protocol, after=context.stored.swept_through)
            label = context.clinic.clinic.label
            worklist = projection_update(context.stored, record, context.stored.acknowledgements, context.today, label)
            upcoming = with_changes_on(upcoming, worklist, context.stored)
            audit = self.audit(actor, context.role, "infusion.recorded", f"INFUSION#{request.date.isoformat()}")
            profile = context.record.profile
            alerts = deviation_alerts(profile.clinic_id, patient_id, profile.enrollment.enrolled_on, infusion)
            try:
                self.repository.add_infusion(
                    patient_id, infusion, context.stored.version, upcoming, audit, alerts=alerts, worklist=worklist
                )
            except AlreadyExists as error:
                # Another device stored that date in between: re-read and judge again (replay or 409).
                raise VersionConflict("infusion date taken meanwhile") from error
            return InfusionRecorded(infusion_view(infusion), created=True), alerts

        recorded, alerts = retry_on_conflict(attempt)
        self._deliver(alerts)
        return recorded


def _check_analytes(data: ResultInput, protocol: Protocol) -> None:
    """422 naming each bad field (``analytes[2].unit``) with the analyte rules' code; the first error's code is
    the problem's."""
    try:
        check_analytes(data.item, data.analytes, protocol, value=data.value, unit=data.unit)
    except AnalytesRejected as rejected:
        raise ValidationFailed(
            "the analytes cannot be stored as sent",
            code=rejected.errors[0].code,
            violations=[Violation(e.code, e.detail, field=e.field) for e in rejected.errors],
        ) from rejected


def _checked_status(data: ResultInput) -> str | None:
    """vzv and tb_screening need a categorical ``status``; other items take none."""
    allowed = _STATUS_VALUES.get(data.item)
    if allowed is None:
        if data.status is not None:
            raise ValidationFailed(
                f"{data.item.value} takes no status",
                violations=[Violation("invalid", "only vzv and tb_screening take a status", field="status")],
            )
        return None
    if data.status not in allowed:
        raise ValidationFailed(
            f"{data.item.value} needs a status",
            violations=[Violation("invalid", "one of " + ", ".join(sorted(allowed)), field="status")],
        )
    return data.status
