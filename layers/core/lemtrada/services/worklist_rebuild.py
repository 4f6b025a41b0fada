"""Rebuilding a clinic's worklist projection (DESIGN 8), for patients stored before it existed or after a rule change.

A patient's projection is written by every write and by the sweep; a patient stored before the projection existed
has none (and is missing from the worklist and its counts) until one of them visits it, and a changed rule leaves
stored projections stale until then. The rebuild walks the clinic's patients by id, a page per call, and writes the
projection for the clinic's today with the patient's version check, where it is missing (``missing``) or differs
(``all``). A page run again writes nothing new (idempotent by construction), and a write racing it is retried from a
fresh read like any other.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

from lemtrada.regimen import next_check, protocol_for
from lemtrada.services.acknowledgements import settled
from lemtrada.services.actor import Actor, Role
from lemtrada.services.base import UseCase, local_today, retry_on_conflict
from lemtrada.services.errors import NotFound, ValidationFailed, Violation
from lemtrada.services.views import RebuildPageView
from lemtrada.services.worklists import projection_update, with_changes_on
from lemtrada.storage.ports import StoredClinic

type RebuildScope = Literal["missing", "all"]


class WorklistRebuild(UseCase):
    def rebuild_page(
        self, actor: Actor, clinic_id: str, *, limit: int, cursor: str | None, scope: RebuildScope
    ) -> RebuildPageView:
        """Rebuild one page of ``limit`` patients (admins only; anyone else gets 404, as for PUT /clinics)."""
        if not actor.is_admin:
            raise NotFound(f"clinic {clinic_id} not found")
        clinic = self.clinic(clinic_id)
        try:
            page = self.repository.list_clinic_patients(clinic_id, limit, cursor)
        except ValueError as error:
            raise ValidationFailed(
                "invalid page cursor", violations=[Violation("invalid", str(error), field="cursor")]
            ) from error
        rebuilt = 0
        for stored in page.patients:
            if scope == "missing" and stored.worklist is not None:
                continue
            rebuilt += retry_on_conflict(partial(self._rebuild, actor, stored.patient_id, clinic, scope))
        return RebuildPageView(examined=len(page.patients), rebuilt=rebuilt, next_cursor=page.cursor)

    def _rebuild(self, actor: Actor, patient_id: str, clinic: StoredClinic, scope: RebuildScope) -> int:
        """1 when this call wrote the patient's projection, 0 when a fresh read found it current."""
        stored = self.repository.get_patient(patient_id)
        if stored is None or (scope == "missing" and stored.worklist is not None):
            return 0
        label = clinic.clinic.label
        today = local_today(clinic, self.clock())
        update = projection_update(stored, stored.record, stored.acknowledgements, today, label)
        if update is None:
            return 0
        upcoming = next_check(stored.record, settled(stored), protocol_for(label), after=stored.swept_through)
        self.repository.update_profile(
            stored.record.profile,
            stored.version,
            with_changes_on(upcoming, update, stored),
            self.audit(actor, Role.ADMINS, "worklist.rebuilt", "PROFILE"),
            worklist=update,
        )
        return 1
