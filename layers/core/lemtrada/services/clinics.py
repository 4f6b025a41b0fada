"""Clinics: admins create and update them; a clinic's time zone and label drive every rule for its patients."""

from __future__ import annotations

from dataclasses import dataclass

from lemtrada.regimen.records import Clinic, Label
from lemtrada.services.actor import Actor, Role
from lemtrada.services.base import UseCase
from lemtrada.services.errors import Conflict, NotFound
from lemtrada.services.views import ClinicView
from lemtrada.storage.ports import AlreadyExists, VersionConflict


@dataclass(frozen=True, slots=True)
class ClinicSaved:
    view: ClinicView
    created: bool


def clinic_view(clinic: Clinic, version: int) -> ClinicView:
    return ClinicView(
        clinic_id=clinic.clinic_id,
        name=clinic.name,
        timezone=clinic.timezone,
        label=clinic.label,
        digest_hour=clinic.digest_hour,
        reminder_hour=clinic.reminder_hour,
        version=version,
    )


class Clinics(UseCase):
    def put_clinic(
        self,
        actor: Actor,
        clinic_id: str,
        *,
        name: str,
        timezone: str,
        label: Label,
        digest_hour: int = 6,
        reminder_hour: int = 9,
        if_match: int | None = None,
    ) -> ClinicSaved:
        """Create or replace a clinic (admins only; anyone else gets 404). ``if_match`` guards an update."""
        if not actor.is_admin:
            raise NotFound(f"clinic {clinic_id} not found")
        clinic = Clinic(
            clinic_id=clinic_id,
            name=name,
            timezone=timezone,
            label=label,
            digest_hour=digest_hour,
            reminder_hour=reminder_hour,
        )
        existing = self.repository.get_clinic(clinic_id)
        if if_match is not None and (existing is None or existing.version != if_match):
            raise Conflict("the clinic changed since it was read", code="version_conflict")
        expected = existing.version if existing is not None else None
        action = "clinic.updated" if existing is not None else "clinic.created"
        try:
            version = self.repository.save_clinic(
                clinic, expected, self.audit(actor, Role.ADMINS, action, f"CLINIC#{clinic_id}")
            )
        except (VersionConflict, AlreadyExists) as error:
            raise Conflict("the clinic changed while it was saved; retry", code="version_conflict") from error
        return ClinicSaved(clinic_view(clinic, version), created=existing is None)
