"""Who is calling: the authenticated user as the services see it (no HTTP or JWT knowledge here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

Clock = Callable[[], datetime]
"""Returns the current instant, timezone-aware. Injected so tests and replays control "now"."""


def system_clock() -> datetime:
    """The real clock, in UTC."""
    return datetime.now(UTC)


class Role(StrEnum):
    """The Cognito groups the API knows; any other group grants nothing."""

    CLINICIANS = "clinicians"
    PATIENTS = "patients"
    ADMINS = "admins"
    LAB_INTERFACES = "lab_interfaces"  # a lab's or EHR's interface engine delivering one clinic's results


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller: Cognito ``sub``, the groups it belongs to and, for clinicians, its clinic."""

    sub: str
    groups: frozenset[Role] = field(default_factory=frozenset)
    clinic_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return Role.ADMINS in self.groups

    @property
    def is_patient(self) -> bool:
        return Role.PATIENTS in self.groups

    def clinician_of(self, clinic_id: str) -> bool:
        """True for a clinician whose clinic claim names this clinic."""
        return Role.CLINICIANS in self.groups and self.clinic_id is not None and self.clinic_id == clinic_id

    def lab_interface_of(self, clinic_id: str) -> bool:
        """True for a lab interface whose clinic claim names this clinic (DESIGN 10)."""
        return Role.LAB_INTERFACES in self.groups and self.clinic_id is not None and self.clinic_id == clinic_id

    @property
    def clinician_clinic(self) -> str | None:
        """The clinic a clinician works for, or None when the caller is not a clinician with a clinic."""
        return self.clinic_id if Role.CLINICIANS in self.groups and self.clinic_id else None
