"""Enrollment and the profile: eligibility decides (a rejection stores nothing), the profile evolves by PATCH."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from lemtrada.notify.publisher import DigestPublisher
from lemtrada.regimen import check_eligibility, next_check, protocol_for
from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import (
    Contraindication,
    Diagnosis,
    Enrollment,
    PatientProfile,
    PatientRecord,
    PregnancyEpisode,
    Sex,
)
from lemtrada.services.acknowledgements import settled
from lemtrada.services.actor import Actor, Clock, Role
from lemtrada.services.alerts import AlertDelivery
from lemtrada.services.base import WRITE_ATTEMPTS, PatientContext, UseCase, local_today, retry_on_conflict
from lemtrada.services.errors import Conflict, NotFound, RuleRejected, ValidationFailed, Violation
from lemtrada.services.onboarding import HistoryInput, Onboarded, onboard
from lemtrada.services.presenters import patient_summary, patient_view
from lemtrada.services.recording import new_result_id
from lemtrada.services.views import PatientPageView, PatientView
from lemtrada.services.worklists import projection_update, with_changes_on
from lemtrada.storage import keys, packing
from lemtrada.storage.ports import MAX_TRANSACTION_ITEMS, AlreadyExists, PatientRepository, StoredPatient

MAX_PAGE = 100
MAX_YEAR_BYTES = 380 * 1024
"""A year's packed results must stay under DynamoDB's 400 KB item (the margin covers the keys and names)."""


@dataclass(frozen=True, slots=True)
class EnrollmentInput:
    birth_date: date
    sex: Sex
    reproductive_potential: bool
    diagnosis: Diagnosis
    prior_dmt_count: int
    contraindications: frozenset[Contraindication]
    justification: str | None = None
    patient_sub: str | None = None
    external_ref: str | None = None
    rapidly_evolving_severe: bool = False


@dataclass(frozen=True, slots=True)
class PregnancyChange:
    state: Literal["ongoing", "ended"]
    on: date | None = None


@dataclass(frozen=True, slots=True)
class ProfilePatch:
    pregnancy: PregnancyChange | None = None
    active_infection: bool | None = None
    reproductive_potential: bool | None = None
    withdrawn: bool | None = None


class Patients(UseCase):
    """Enrollment and the profile; with a ``publisher`` the alerts an enrollment's history owes go out before it
    answers (as the recording routes do), otherwise they wait owed for the drain."""

    def __init__(self, repository: PatientRepository, clock: Clock, publisher: DigestPublisher | None = None) -> None:
        super().__init__(repository, clock)
        self.alerts = None if publisher is None else AlertDelivery(repository, publisher)

    def enroll(self, actor: Actor, data: EnrollmentInput, history: HistoryInput | None = None) -> PatientView:
        """Judge eligibility on the clinic's today; store the patient (with warnings) only when accepted.

        With ``history`` (DESIGN 8) the whole history is validated first (422 naming each bad entry, nothing
        stored), replayed in date order, and stored with the patient in the same single write, together with the
        ``history`` acknowledgements and the alerts owed by what is current."""
        clinic_id = actor.clinician_clinic
        if clinic_id is None:
            raise NotFound("no clinic to enroll into")
        clinic = self.clinic(clinic_id)
        now = self.clock()
        today = local_today(clinic, now)
        if data.birth_date > today:
            raise ValidationFailed(
                "birth_date lies after the clinic's today",
                code="date_in_future",
                violations=[Violation("date_in_future", f"after {today.isoformat()}", field="birth_date")],
            )
        protocol = protocol_for(clinic.clinic.label)
        enrollment = Enrollment(
            birth_date=data.birth_date,
            sex=data.sex,
            reproductive_potential=data.reproductive_potential,
            diagnosis=data.diagnosis,
            prior_dmt_count=data.prior_dmt_count,
            contraindications=data.contraindications,
            enrolled_on=today,
            justification=data.justification or None,
            rapidly_evolving_severe=data.rapidly_evolving_severe,
        )
        decision = check_eligibility(enrollment, protocol)
        if not decision.accepted:
            raise RuleRejected(
                "the patient is not eligible under the clinic's label",
                [Violation(f.code, f.detail, source=f.source) for f in decision.rejections],
            )
        profile = PatientProfile(
            patient_id=uuid.uuid4().hex,
            clinic_id=clinic_id,
            enrollment=enrollment,
            warnings=tuple(f.code for f in decision.warnings),
        )
        if history:
            onboarded = onboard(profile, history, today=today, protocol=protocol, new_result_id=new_result_id, at=now)
        else:
            onboarded = Onboarded(record=PatientRecord(profile=profile), acknowledgements=(), alerts=())
        record = onboarded.record
        stored = StoredPatient(
            record=record,
            version=1,
            enrolled_at=now,
            patient_sub=data.patient_sub,
            external_ref=data.external_ref,
            next_check=next_check(record, frozenset(), protocol, after=None),
            acknowledgements=onboarded.acknowledgements,
        )
        _check_fits(stored, onboarded.alerts)
        audit = self.audit(actor, Role.CLINICIANS, "patient.enrolled", "PROFILE")
        worklist = projection_update(None, record, (), today, clinic.clinic.label)
        stored = replace(stored, next_check=with_changes_on(stored.next_check, worklist, None))
        try:
            self.repository.create_patient(stored, audit, alerts=onboarded.alerts, worklist=worklist)
        except AlreadyExists as error:
            if error.what == "patient_sub":
                raise Conflict("this user is already linked to a patient", code="patient_sub_taken") from error
            raise Conflict("the patient exists already", code="conflict") from error
        if self.alerts is not None and onboarded.alerts:
            self.alerts.deliver(onboarded.alerts)
        return patient_view(stored, clinic, today)

    def list_patients(self, actor: Actor, limit: int, cursor: str | None) -> PatientPageView:
        """The caller's clinic's patients, ``limit`` at a time; ``cursor`` continues a previous page."""
        clinic_id = actor.clinician_clinic
        if clinic_id is None:
            raise NotFound("no clinic")
        try:
            page = self.repository.list_clinic_patients(clinic_id, min(max(limit, 1), MAX_PAGE), cursor)
        except ValueError as error:
            raise ValidationFailed(
                "invalid page cursor", violations=[Violation("invalid", str(error), field="cursor")]
            ) from error
        return PatientPageView(patients=[patient_summary(p) for p in page.patients], next_cursor=page.cursor)

    def patch_profile(
        self, actor: Actor, patient_id: str, patch: ProfilePatch, if_match: int | None = None
    ) -> PatientView:
        """Apply the changes to a fresh read; with ``if_match`` a stale version is a 409 instead of a retry."""

        def attempt() -> PatientView:
            context = self.patient(actor, patient_id, write=True)
            if if_match is not None and context.stored.version != if_match:
                raise Conflict(
                    f"the patient is at version {context.stored.version}, not {if_match}", code="version_conflict"
                )
            profile = _patched(context, patch)
            protocol = protocol_for(context.clinic.clinic.label)
            record = replace(context.record, profile=profile)
            upcoming = next_check(record, settled(context.stored), protocol, after=context.stored.swept_through)
            label = context.clinic.clinic.label
            worklist = projection_update(context.stored, record, context.stored.acknowledgements, context.today, label)
            upcoming = with_changes_on(upcoming, worklist, context.stored)
            audit = self.audit(actor, context.role, "profile.updated", "PROFILE")
            version = self.repository.update_profile(
                profile, context.stored.version, upcoming, audit, worklist=worklist
            )
            stored = replace(context.stored, record=record, version=version, next_check=upcoming)
            return patient_view(stored, context.clinic, context.today)

        return retry_on_conflict(attempt, attempts=1 if if_match is not None else WRITE_ATTEMPTS)


def _check_fits(stored: StoredPatient, alerts: Sequence[Alert]) -> None:
    """An enrollment is one transaction (all or nothing, and a retry with the same Idempotency-Key replays it):
    refuse with 422 ``history_too_large`` a history it could not hold, before anything is sent. Four years of
    monitoring (~10 infusions, ~50 results in 5 year items) is ~20 of DynamoDB's 100 items; a year item holds
    thousands of results under its 400 KB."""
    record = stored.record
    by_year: dict[int, int] = {}
    for result in record.results:
        size = len(keys.result_name(result.date, result.result_id)) + len(packing.result_entry(result))
        by_year[result.date.year] = by_year.get(result.date.year, 0) + size
    # profile, audit, its infusions and result years, reviews, owed alerts, and the worklist counter of its shard
    items = 3 + len(record.infusions) + len(by_year) + bool(stored.acknowledgements) + len(alerts)
    items += stored.patient_sub is not None
    if items > MAX_TRANSACTION_ITEMS:
        raise ValidationFailed(
            f"the history needs {items} items in one write; at most {MAX_TRANSACTION_ITEMS} fit",
            code="history_too_large",
            violations=[Violation("history_too_large", f"{items} items > {MAX_TRANSACTION_ITEMS}", field="history")],
        )
    for year, size in sorted(by_year.items()):
        if size > MAX_YEAR_BYTES:
            raise ValidationFailed(
                f"the results of {year} take {size} bytes; one year holds at most {MAX_YEAR_BYTES}",
                code="history_too_large",
                violations=[Violation("history_too_large", f"{year}: {size} bytes", field="history.results")],
            )


def _patched(context: PatientContext, patch: ProfilePatch) -> PatientProfile:
    profile = context.record.profile
    today = context.today
    if patch.pregnancy is not None:
        profile = replace(profile, pregnancies=_pregnancies(profile, patch.pregnancy, today))
    if patch.active_infection is not None:
        profile = replace(profile, active_infection=patch.active_infection)
    if patch.reproductive_potential is not None:
        enrollment = replace(profile.enrollment, reproductive_potential=patch.reproductive_potential)
        profile = replace(profile, enrollment=enrollment)
    if patch.withdrawn is not None:
        withdrawn_on = (profile.withdrawn_on or today) if patch.withdrawn else None
        profile = replace(profile, withdrawn_on=withdrawn_on)
    return profile


def _pregnancies(profile: PatientProfile, change: PregnancyChange, today: date) -> tuple[PregnancyEpisode, ...]:
    """An ``ongoing`` report opens an episode (unless one is open); ``ended`` closes the open one."""
    on = change.on or today
    if on > today:
        raise ValidationFailed(
            "a pregnancy date cannot lie after the clinic's today",
            code="date_in_future",
            violations=[Violation("date_in_future", f"after {today.isoformat()}", field="pregnancy.date")],
        )
    episodes = list(profile.pregnancies)
    open_index = next((i for i, e in enumerate(episodes) if e.ended_on is None), None)
    if change.state == "ongoing":
        if open_index is None:
            episodes.append(PregnancyEpisode(reported_on=on))
        return tuple(episodes)
    if open_index is None:
        raise ValidationFailed(
            "no ongoing pregnancy to end",
            violations=[Violation("no_ongoing_pregnancy", "no pregnancy is ongoing", field="pregnancy.state")],
        )
    episode = episodes[open_index]
    if on < episode.reported_on:
        raise ValidationFailed(
            "a pregnancy cannot end before it was reported",
            violations=[Violation("invalid", f"before {episode.reported_on.isoformat()}", field="pregnancy.date")],
        )
    episodes[open_index] = replace(episode, ended_on=on)
    return tuple(episodes)
