"""The behaviour every PatientRepository must show; subclassed per implementation with a ``repo`` fixture.

Ids are unique per test so the suite also runs against a shared table (DynamoDB Local, one per session).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import PatientStatus, PregnancyEpisode, ResultItem, Severity
from lemtrada.regimen.worklist import PatientWorklist, WorklistItem
from lemtrada.storage import keys
from lemtrada.storage.ports import (
    Acknowledgement,
    AlreadyExists,
    PatientRepository,
    VersionConflict,
    WorklistUpdate,
)

from tests.unit.storage import factories as f


def shard_of(repo: PatientRepository, patient_id: str) -> int:
    return keys.due_shard_number(patient_id, repo.due_shards)


def due_ids(repo: PatientRepository, patient_ids: set[str], through: date) -> dict[str, date]:
    """The due rows of these patients only (other tests may share the table)."""
    found: dict[str, date] = {}
    for shard in {shard_of(repo, pid) for pid in patient_ids}:
        for entry in repo.due_patients(shard, through):
            if entry.patient_id in patient_ids:
                found[entry.patient_id] = entry.next_check
    return found


# -- the worklist projection (DESIGN 8) --------------------------------------------------------------------------
_STATES = {"critical": "missed", "major": "overdue", "minor": "due"}


def projection(severity: str | None, due: date, day: date = date(2026, 11, 24)) -> PatientWorklist:
    """A patient's projection with one cbc occurrence of ``severity`` due on ``due`` (None: nothing listed)."""
    if severity is None:
        return PatientWorklist(day, PatientStatus.MONITORING, (), None)
    item = WorklistItem("occurrence", "cbc", severity, "cbc:3", 3, _STATES[severity], due)
    milestone = WorklistItem("milestone", "course_2_due", "info", f"course_2_due:{due}", date=due)
    return PatientWorklist(day, PatientStatus.MONITORING, (item, milestone), day + timedelta(days=3))


def project(  # noqa: PLR0917 - a test helper
    repo: PatientRepository,
    pid: str,
    clinic_id: str,
    version: int,
    after: PatientWorklist,
    before: PatientWorklist | None,
) -> int:
    update = WorklistUpdate(pid, clinic_id, after, before)
    return repo.record_sweep(pid, after.day, [], version, after.changes_on, clinic_id=clinic_id, worklist=update)


class WorklistProjectionContract:
    def _clinic(self, repo: PatientRepository, severities: list[str | None]) -> tuple[str, list[str]]:
        clinic_id = f.uid("wl-clinic")
        ids = []
        for number, severity in enumerate(severities):
            patient = f.stored(f.profile(clinic_id=clinic_id))
            repo.create_patient(patient, f.audit())
            project(repo, patient.patient_id, clinic_id, 1, projection(severity, date(2026, 10, 1 + number)), None)
            ids.append(patient.patient_id)
        return clinic_id, ids

    def test_pages_return_every_listed_patient_once_by_rank(self, repo: PatientRepository) -> None:
        severities: list[str | None] = ["minor", "critical", None, "major", "critical", "minor", None, "major"]
        clinic_id, ids = self._clinic(repo, severities)
        seen: list[str] = []
        cursor = None
        while True:
            page = repo.worklist_page(clinic_id, 3, cursor)
            assert len(page.rows) <= 3
            seen += [row.patient_id for row in page.rows]
            cursor = page.cursor
            if cursor is None:
                break
        listed = [pid for pid, severity in zip(ids, severities, strict=True) if severity is not None]
        assert sorted(seen) == sorted(listed)
        assert len(seen) == len(set(seen))
        order = ["critical", "major", "minor"]
        by_id = dict(zip(ids, severities, strict=True))
        ranks = [order.index(by_id[pid]) for pid in seen]  # type: ignore[arg-type]
        assert ranks == sorted(ranks)
        first = repo.worklist_page(clinic_id, 1).rows[0]
        assert first.external_ref == "MRN-1"  # the profile's
        assert first.worklist.items[0].ref == "cbc:3"
        critical = repo.worklist_page(clinic_id, 50, at_least=0)
        assert {row.worklist.priority for row in critical.rows} == {"critical"}
        assert len(repo.worklist_page(clinic_id, 50, at_least=1).rows) == 4
        counts = repo.worklist_counts(clinic_id)
        assert counts == {"critical": 2, "major": 2, "minor": 2, "info": 6, "patients": 6}

    def test_paging_while_ranks_change_returns_every_patient_once(self, repo: PatientRepository) -> None:
        """Ranks that move on either side of the cursor (a seen patient escalating, an unseen one improving or
        escalating among the unseen) still give every patient exactly once (docs/DECISIONS.md "Worklist")."""
        severities: list[str | None] = ["critical", "critical", "major", "major", "minor", "minor"]
        clinic_id, ids = self._clinic(repo, severities)
        versions = dict.fromkeys(ids, 2)
        current = {
            pid: projection(sev, date(2026, 10, 1 + n))
            for n, (pid, sev) in enumerate(zip(ids, severities, strict=True))
        }

        def move(pid: str, severity: str, due: date) -> None:
            after = projection(severity, due)
            versions[pid] = project(repo, pid, clinic_id, versions[pid], after, current[pid])
            current[pid] = after

        first = repo.worklist_page(clinic_id, 2)
        seen = [row.patient_id for row in first.rows]
        assert seen == ids[:2]
        move(ids[1], "critical", date(2026, 9, 1))  # seen, moves earlier still
        move(ids[5], "major", date(2026, 10, 20))  # unseen, escalates among the unseen
        move(ids[2], "minor", date(2026, 10, 30))  # unseen, improves among the unseen
        cursor = first.cursor
        while cursor is not None:
            page = repo.worklist_page(clinic_id, 2, cursor)
            seen += [row.patient_id for row in page.rows]
            cursor = page.cursor
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))

    def test_a_cursor_of_another_clinic_or_malformed_is_refused(self, repo: PatientRepository) -> None:
        clinic_id, _ = self._clinic(repo, ["major", "minor"])
        cursor = repo.worklist_page(clinic_id, 1).cursor
        assert cursor is not None
        with pytest.raises(ValueError, match="another clinic"):
            repo.worklist_page("another-clinic", 1, cursor)
        for bad in ("garbage", keys.encode_worklist_cursor(clinic_id, "nonsense"), keys.encode_cursor(clinic_id, "p")):
            with pytest.raises(ValueError, match="cursor"):
                repo.worklist_page(clinic_id, 1, bad)

    def test_a_projection_write_moves_the_rank_and_the_counters_and_an_empty_one_leaves(
        self, repo: PatientRepository
    ) -> None:
        clinic_id, ids = self._clinic(repo, ["minor", "major"])
        old = projection("minor", date(2026, 10, 1))
        version = project(repo, ids[0], clinic_id, 2, projection("critical", date(2026, 10, 1)), old)
        assert [row.patient_id for row in repo.worklist_page(clinic_id, 5).rows] == ids
        assert repo.worklist_counts(clinic_id)["critical"] == 1
        assert repo.worklist_counts(clinic_id)["minor"] == 0
        project(
            repo,
            ids[0],
            clinic_id,
            version,
            projection(None, date(2026, 10, 1)),
            projection("critical", date(2026, 10, 1)),
        )
        assert [row.patient_id for row in repo.worklist_page(clinic_id, 5).rows] == [ids[1]]
        assert repo.worklist_counts(clinic_id) == {"critical": 0, "major": 1, "minor": 0, "info": 1, "patients": 1}
        stored = repo.get_patient(ids[0])
        assert stored is not None
        assert stored.worklist is not None
        assert stored.worklist.items == ()

    def test_a_stale_projection_write_is_refused_whole(self, repo: PatientRepository) -> None:
        """An acknowledgement racing the sweep: the loser's write (projection included) is refused by the version,
        so the projection never goes back to showing what was acknowledged."""
        clinic_id, ids = self._clinic(repo, ["critical"])
        pid = ids[0]
        shown = projection("critical", date(2026, 10, 1))
        acknowledged = projection(None, date(2026, 10, 1))
        ack = Acknowledgement("occurrence", "cbc:3", "reviewed", "clinician-1", datetime(2026, 11, 24, tzinfo=UTC))
        update = WorklistUpdate(pid, clinic_id, acknowledged, shown)
        repo.acknowledge(pid, ack, 2, None, f.audit("acknowledgement.recorded"), worklist=update)
        with pytest.raises(VersionConflict):
            project(repo, pid, clinic_id, 2, shown, shown)  # the sweep read version 2, before the acknowledgement
        assert repo.worklist_page(clinic_id, 5).rows == ()
        assert repo.worklist_counts(clinic_id)["critical"] == 0


class RepositoryContract(WorklistProjectionContract):
    # -- clinics ---------------------------------------------------------------------------------------
    def test_clinic_create_update_and_conflicts(self, repo: PatientRepository) -> None:
        clinic = f.clinic()
        assert repo.get_clinic(clinic.clinic_id) is None
        assert repo.save_clinic(clinic, None, f.audit("clinic.saved")) == 1
        with pytest.raises(AlreadyExists) as exists:
            repo.save_clinic(clinic, None, f.audit("clinic.saved"))
        assert exists.value.what == "clinic"
        renamed = replace(clinic, name="South MS Centre")
        assert repo.save_clinic(renamed, 1, f.audit("clinic.saved")) == 2
        with pytest.raises(VersionConflict):
            repo.save_clinic(clinic, 1, f.audit("clinic.saved"))
        stored = repo.get_clinic(clinic.clinic_id)
        assert stored is not None
        assert stored.clinic == renamed
        assert stored.version == 2
        assert [e.action for e in repo.clinic_audit_trail(clinic.clinic_id)] == ["clinic.saved"] * 2

    def test_list_clinics_is_ordered_and_complete(self, repo: PatientRepository) -> None:
        clinics = [f.clinic() for _ in range(3)]
        for clinic in clinics:
            repo.save_clinic(clinic, None, f.audit())
        listed = repo.list_clinics()
        ids = [c.clinic.clinic_id for c in listed]
        assert ids == sorted(ids)
        mine = {c.clinic.clinic_id: c for c in listed if c.clinic in clinics}
        assert set(mine) == {c.clinic_id for c in clinics}
        assert all(c.version == 1 for c in mine.values())

    # -- patients: create and read ---------------------------------------------------------------------
    def test_create_and_read_back_the_whole_record(self, repo: PatientRepository) -> None:
        sub = f.uid("sub")
        patient = f.stored(
            sub=sub,
            next_check=date(2026, 2, 1),
            infusions=(f.infusion(date(2026, 1, 10)), f.infusion(date(2026, 1, 11), number=2)),
            results=(f.result(date(2025, 12, 1)), f.result(date(2025, 12, 1), ResultItem.VZV, None)),
        )
        repo.create_patient(patient, f.audit("patient.enrolled"))
        got = repo.get_patient(patient.patient_id)
        assert got is not None
        assert got.version == 1
        assert got.record.profile == patient.record.profile
        assert got.record.infusions == patient.record.infusions
        assert set(got.record.results) == set(patient.record.results)
        assert [r.date for r in got.record.results] == sorted(r.date for r in got.record.results)
        assert got.enrolled_at == patient.enrolled_at
        assert got.patient_sub == sub
        assert got.external_ref == "MRN-1"
        assert got.next_check == date(2026, 2, 1)
        assert got.swept_through is None
        assert got.sent_notices == frozenset()
        assert repo.patient_id_for_user(sub) == patient.patient_id
        assert repo.patient_id_for_user(f.uid("nobody")) is None
        assert repo.get_patient(f.uid("missing")) is None

    def test_create_with_history_stores_acknowledgements_and_owed_alerts_in_the_one_write(
        self, repo: PatientRepository
    ) -> None:
        """An enrollment with history (DESIGN 8): results with findings, ``history`` acknowledgements and the owed
        alerts in the create; refused as a whole when the patient exists."""
        old = f.cbc(date(2024, 2, 3), 15.0, ("platelets_below_100", Severity.CRITICAL))
        recent = f.cbc(date(2026, 1, 2), 20.0, ("platelets_below_100", Severity.CRITICAL))
        clinic = f.profile(clinic_id=f.uid("clinic"))  # its own clinic: owed alerts are listed per clinic
        base = f.stored(clinic, infusions=(f.infusion(date(2024, 1, 10)),), results=(old, recent))
        at = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
        ack = Acknowledgement("finding", old.findings[0].finding_id, "history", "system:history", at)
        patient = replace(base, acknowledgements=(ack,))
        pid = patient.patient_id
        found = recent.findings[0]
        alert = Alert(patient.clinic_id, pid, "finding", found.code, found.severity, found.date, found.finding_id)
        repo.create_patient(patient, f.audit("patient.enrolled"), alerts=(alert,))
        got = repo.get_patient(pid)
        assert got is not None
        assert got.acknowledgements == (ack,)
        by_id = {r.result_id: r for r in got.record.results}
        assert by_id[old.result_id].findings[0].acknowledged
        assert not by_id[recent.result_id].findings[0].acknowledged
        assert [o.alert for o in repo.owed_alerts(patient.clinic_id)] == [alert]
        again = replace(patient, acknowledgements=())
        other = replace(alert, finding_id="other:platelets_below_100")
        with pytest.raises(AlreadyExists):
            repo.create_patient(again, f.audit(), alerts=(other,))
        assert [o.alert for o in repo.owed_alerts(patient.clinic_id)] == [alert]  # nothing of the refused write

    def test_create_refuses_an_existing_patient_or_a_linked_sub(self, repo: PatientRepository) -> None:
        sub = f.uid("sub")
        first = f.stored(sub=sub)
        repo.create_patient(first, f.audit())
        with pytest.raises(AlreadyExists) as same_id:
            repo.create_patient(f.stored(first.record.profile), f.audit())
        assert same_id.value.what == "patient"
        other = f.stored(sub=sub)
        with pytest.raises(AlreadyExists) as same_sub:
            repo.create_patient(other, f.audit())
        assert same_sub.value.what == "patient_sub"
        assert repo.get_patient(other.patient_id) is None
        assert repo.patient_id_for_user(sub) == first.patient_id

    # -- patients: writes ------------------------------------------------------------------------------
    def test_add_infusion_bumps_version_and_refuses_stale_or_duplicate(self, repo: PatientRepository) -> None:
        patient = f.stored()
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        first = f.infusion(date(2026, 1, 10))
        assert repo.add_infusion(pid, first, 1, date(2026, 1, 11), f.audit("infusion.recorded")) == 2
        with pytest.raises(VersionConflict):
            repo.add_infusion(pid, f.infusion(date(2026, 1, 11), number=2), 1, None, f.audit())
        with pytest.raises(AlreadyExists) as duplicate:
            repo.add_infusion(pid, replace(first, dose_mg=10.0), 2, None, f.audit())
        assert duplicate.value.what == "infusion"
        got = repo.get_patient(pid)
        assert got is not None
        assert got.version == 2
        assert got.record.infusions == (first,)
        assert len(repo.audit_trail(pid)) == 2

    def test_a_stale_duplicate_reports_the_duplicate(self, repo: PatientRepository) -> None:
        patient = f.stored()
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        repo.add_infusion(pid, f.infusion(date(2026, 1, 10)), 1, None, f.audit())
        with pytest.raises(AlreadyExists):
            repo.add_infusion(pid, f.infusion(date(2026, 1, 10)), 1, None, f.audit())

    def test_writes_to_a_missing_patient_conflict(self, repo: PatientRepository) -> None:
        with pytest.raises(VersionConflict):
            repo.add_infusion(f.uid("missing"), f.infusion(date(2026, 1, 10)), 1, None, f.audit())
        with pytest.raises(VersionConflict):
            repo.update_profile(f.profile(), 1, None, f.audit())

    def test_add_result_and_its_duplicate(self, repo: PatientRepository) -> None:
        patient = f.stored()
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        tb = replace(f.result(date(2026, 1, 2), ResultItem.TB_SCREENING, None), status="negative", unit=None)
        assert repo.add_result(pid, tb, 1, None, f.audit("result.recorded")) == 2
        with pytest.raises(AlreadyExists) as duplicate:
            repo.add_result(pid, tb, 2, None, f.audit())
        assert duplicate.value.what == "result"
        with pytest.raises(VersionConflict):
            repo.add_result(pid, f.result(date(2026, 1, 3)), 1, None, f.audit())
        got = repo.get_patient(pid)
        assert got is not None
        assert got.record.results == (tb,)

    def test_results_carry_analytes_and_findings(self, repo: PatientRepository) -> None:
        patient = f.stored(f.profile(enrollment=replace(f.profile().enrollment, rapidly_evolving_severe=True)))
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        low = f.cbc(date(2026, 2, 3), 15.0, ("platelets_below_100", Severity.CRITICAL))
        normal = f.cbc(date(2026, 3, 3), 210.5)
        assert repo.add_result(pid, low, 1, None, f.audit("result.recorded")) == 2
        assert repo.add_result(pid, normal, 2, None, f.audit("result.recorded")) == 3
        got = repo.get_patient(pid)
        assert got is not None
        assert got.record.profile.enrollment.rapidly_evolving_severe
        assert got.record.results == (low, normal)
        assert got.record.results[0].findings[0].finding_id == f"{low.result_id}:platelets_below_100"

    def test_adding_a_result_rewrites_other_results_findings_atomically(self, repo: PatientRepository) -> None:
        patient = f.stored()
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        same_year = f.cbc(date(2026, 5, 1), 60.0)
        next_year = f.cbc(date(2027, 1, 4), 40.0)
        repo.add_result(pid, same_year, 1, None, f.audit())
        repo.add_result(pid, next_year, 2, None, f.audit())
        late = f.cbc(date(2026, 4, 1), 300.0)
        grown = [f.with_finding(r, "platelets_halved", Severity.MAJOR) for r in (same_year, next_year)]
        with pytest.raises(VersionConflict):
            repo.add_result(pid, late, 2, None, f.audit(), updated=grown)
        got = repo.get_patient(pid)
        assert got is not None
        assert got.version == 3
        assert got.record.results == (same_year, next_year)
        assert repo.add_result(pid, late, 3, None, f.audit(), updated=grown) == 4
        got = repo.get_patient(pid)
        assert got is not None
        assert got.record.results == (late, *grown)
        ghost = f.cbc(date(2026, 6, 1), 10.0)
        with pytest.raises((VersionConflict, AlreadyExists)):
            repo.add_result(pid, f.cbc(date(2026, 7, 1), 10.0), 4, None, f.audit(), updated=[ghost])
        got = repo.get_patient(pid)
        assert got is not None
        assert got.version == 4
        assert len(got.record.results) == 3

    def test_acknowledgements_are_kept_once_and_close_their_findings(self, repo: PatientRepository) -> None:
        patient = f.stored()
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        low = f.cbc(date(2026, 2, 3), 15.0, ("platelets_below_100", Severity.CRITICAL))
        repo.add_result(pid, low, 1, None, f.audit())
        finding = low.findings[0]
        at = datetime(2026, 2, 4, 9, 15, tzinfo=UTC)
        ack = Acknowledgement("finding", finding.finding_id, "repeat_test_ordered", "clinician-1", at)
        occurrence = Acknowledgement("occurrence", "cbc:3", "patient_contacted", "clinician|2", at)
        with pytest.raises(VersionConflict):
            repo.acknowledge(pid, ack, 1, None, f.audit())
        assert repo.acknowledge(pid, ack, 2, date(2026, 3, 1), f.audit("acknowledgement.recorded")) == 3
        assert repo.acknowledge(pid, occurrence, 3, None, f.audit()) == 4
        with pytest.raises(AlreadyExists) as twice:
            repo.acknowledge(pid, replace(ack, action="reviewed"), 4, None, f.audit())
        assert twice.value.what == "acknowledgement"
        got = repo.get_patient(pid)
        assert got is not None
        assert got.version == 4
        assert got.acknowledgements == (ack, occurrence)
        assert got.record.results[0].findings == (replace(finding, acknowledged=True),)
        assert [e.action for e in repo.audit_trail(pid)][-2:] == ["acknowledgement.recorded", "test.write"]

    def test_update_profile_sets_and_clears_fields(self, repo: PatientRepository) -> None:
        patient = f.stored(sub=f.uid("sub"))
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        changed = replace(
            patient.record.profile,
            pregnancies=(*patient.record.profile.pregnancies, PregnancyEpisode(date(2026, 3, 1))),
            active_infection=True,
            withdrawn_on=date(2026, 4, 1),
            warnings=(),
        )
        assert repo.update_profile(changed, 1, None, f.audit("profile.updated")) == 2
        got = repo.get_patient(pid)
        assert got is not None
        assert got.record.profile == changed
        restored = replace(changed, withdrawn_on=None, active_infection=False)
        assert repo.update_profile(restored, 2, date(2026, 5, 1), f.audit("profile.updated")) == 3
        got = repo.get_patient(pid)
        assert got is not None
        assert got.record.profile == restored
        assert got.patient_sub == patient.patient_sub
        assert got.enrolled_at == patient.enrolled_at
        assert got.external_ref == patient.external_ref
        assert got.next_check == date(2026, 5, 1)

    def test_audit_trail_grows_with_every_write_and_stays_out_of_the_record(self, repo: PatientRepository) -> None:
        patient = f.stored()
        pid = patient.patient_id
        repo.create_patient(patient, f.audit("patient.enrolled"))
        repo.add_infusion(pid, f.infusion(date(2026, 1, 10)), 1, None, f.audit("infusion.recorded", "INFUSION#x"))
        repo.add_result(pid, f.result(date(2026, 1, 2)), 2, None, f.audit("result.recorded"))
        repo.update_profile(patient.record.profile, 3, None, f.audit("profile.updated"))
        repo.record_sweep(pid, date(2026, 2, 1), ["n1"], 4, None)
        trail = repo.audit_trail(pid)
        assert [e.action for e in trail] == [
            "patient.enrolled",
            "infusion.recorded",
            "result.recorded",
            "profile.updated",
            "notices.recorded",
        ]
        assert trail[1].target == "INFUSION#x"
        assert trail[0].actor_sub == "clinician-1"
        assert trail[-1].actor_role == "system"
        assert [e.at for e in trail[:4]] == sorted(e.at for e in trail[:4])
        assert repo.audit_trail(f.uid("missing")) == ()

    # -- due index -------------------------------------------------------------------------------------
    def test_due_index_is_set_moved_and_removed(self, repo: PatientRepository) -> None:
        patient = f.stored(next_check=date(2026, 2, 1))
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        assert due_ids(repo, {pid}, date(2026, 1, 31)) == {}
        assert due_ids(repo, {pid}, date(2026, 2, 1)) == {pid: date(2026, 2, 1)}
        repo.add_infusion(pid, f.infusion(date(2026, 1, 10)), 1, date(2026, 3, 1), f.audit())
        assert due_ids(repo, {pid}, date(2026, 2, 28)) == {}
        assert due_ids(repo, {pid}, date(2026, 3, 1)) == {pid: date(2026, 3, 1)}
        repo.update_profile(patient.record.profile, 2, None, f.audit())
        assert due_ids(repo, {pid}, date(2099, 1, 1)) == {}
        got = repo.get_patient(pid)
        assert got is not None
        assert got.next_check is None

    def test_due_patients_reads_only_due_rows_of_its_shard(self, repo: PatientRepository) -> None:
        clinic_id = f.uid("clinic")
        due = [f.stored(f.profile(clinic_id=clinic_id), next_check=date(2026, 2, d)) for d in (1, 2, 3)]
        later = [f.stored(f.profile(clinic_id=clinic_id), next_check=date(2026, 3, 1)) for _ in range(3)]
        never = [f.stored(f.profile(clinic_id=clinic_id)) for _ in range(3)]
        for patient in due + later + never:
            repo.create_patient(patient, f.audit())
        everyone = {p.patient_id for p in due + later + never}
        found = due_ids(repo, everyone, date(2026, 2, 15))
        assert found == {p.patient_id: p.next_check for p in due}
        for patient in due:
            entries = list(repo.due_patients(shard_of(repo, patient.patient_id), date(2026, 2, 15)))
            assert all(shard_of(repo, e.patient_id) == shard_of(repo, patient.patient_id) for e in entries)
            mine = [e for e in entries if e.patient_id == patient.patient_id]
            assert len(mine) == 1
            assert mine[0].clinic_id == clinic_id
        with pytest.raises(ValueError, match="shard"):
            list(repo.due_patients(repo.due_shards, date(2026, 2, 15)))

    def test_shards_are_stable_and_spread(self, repo: PatientRepository) -> None:
        ids = [f"patient-{n}" for n in range(400)]
        shards = [keys.due_shard_number(pid, repo.due_shards) for pid in ids]
        assert shards == [keys.due_shard_number(pid, repo.due_shards) for pid in ids]
        assert set(shards) == set(range(repo.due_shards))

    # -- clinic listing ---------------------------------------------------------------------------------
    def test_list_clinic_patients_paginates_with_an_opaque_cursor(self, repo: PatientRepository) -> None:
        clinic_id = f.uid("clinic")
        patients = [f.stored(f.profile(clinic_id=clinic_id)) for _ in range(5)]
        for patient in patients:
            repo.create_patient(patient, f.audit())
        repo.create_patient(f.stored(f.profile(clinic_id=f.uid("elsewhere"))), f.audit())
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = repo.list_clinic_patients(clinic_id, 2, cursor)
            pages += 1
            assert len(page.patients) <= 2
            seen += [p.patient_id for p in page.patients]
            cursor = page.cursor
            if cursor is None:
                break
        assert pages == 3
        assert seen == sorted(p.patient_id for p in patients)
        exact = repo.list_clinic_patients(clinic_id, 5)
        assert exact.cursor is None
        assert len(exact.patients) == 5
        assert exact.patients[0].record.profile.clinic_id == clinic_id

    def test_list_clinic_patients_rejects_bad_cursors(self, repo: PatientRepository) -> None:
        clinic_id = f.uid("clinic")
        for _ in range(3):
            repo.create_patient(f.stored(f.profile(clinic_id=clinic_id)), f.audit())
        cursor = repo.list_clinic_patients(clinic_id, 1).cursor
        assert cursor is not None
        for garbage in ("not a cursor!", "eyJ4IjoxfQ", "", cursor[:-3]):
            with pytest.raises(ValueError, match="cursor"):
                repo.list_clinic_patients(clinic_id, 1, garbage)
        with pytest.raises(ValueError, match="another clinic"):
            repo.list_clinic_patients(f.uid("clinic"), 1, cursor)
        assert repo.list_clinic_patients(f.uid("empty"), 10).patients == ()

    def test_moving_a_patient_to_another_clinic_moves_the_listing(self, repo: PatientRepository) -> None:
        old, new = f.uid("clinic"), f.uid("clinic")
        patient = f.stored(f.profile(clinic_id=old))
        repo.create_patient(patient, f.audit())
        repo.update_profile(replace(patient.record.profile, clinic_id=new), 1, None, f.audit())
        assert repo.list_clinic_patients(old, 10).patients == ()
        assert [p.patient_id for p in repo.list_clinic_patients(new, 10).patients] == [patient.patient_id]

    # -- the sweep's write ------------------------------------------------------------------------------
    def test_record_sweep_marks_notices_and_moves_the_due_date(self, repo: PatientRepository) -> None:
        patient = f.stored(next_check=date(2026, 2, 1))
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        on = date(2026, 2, 1)
        version = repo.record_sweep(pid, on, ["cbc#3#due", "milestone#course_1_complete"], 1, date(2026, 3, 1))
        assert version == 2
        got = repo.get_patient(pid)
        assert got is not None
        assert got.sent_notices == {"cbc#3#due", "milestone#course_1_complete"}
        assert got.swept_through == on
        assert got.next_check == date(2026, 3, 1)
        assert due_ids(repo, {pid}, date(2026, 2, 28)) == {}
        marks = repo.notice_marks(pid)
        assert [m.key for m in marks] == ["cbc#3#due", "milestone#course_1_complete"]
        assert all(m.on == on for m in marks)
        assert all(m.clinic_id == patient.clinic_id for m in marks)
        got = repo.get_patient(pid)
        assert got is not None
        assert got.version == 2
        assert got.sent_notices == {"cbc#3#due", "milestone#course_1_complete"}

    def test_record_sweep_is_all_or_nothing(self, repo: PatientRepository) -> None:
        patient = f.stored(next_check=date(2026, 2, 1))
        pid = patient.patient_id
        repo.create_patient(patient, f.audit())
        repo.record_sweep(pid, date(2026, 2, 1), ["a"], 1, date(2026, 2, 2))
        with pytest.raises(AlreadyExists) as again:
            repo.record_sweep(pid, date(2026, 2, 2), ["b", "a"], 2, None)
        assert again.value.what == "notice"
        with pytest.raises(VersionConflict):
            repo.record_sweep(pid, date(2026, 2, 2), ["c"], 1, None)
        got = repo.get_patient(pid)
        assert got is not None
        assert got.sent_notices == {"a"}
        assert got.version == 2
        assert got.swept_through == date(2026, 2, 1)
        assert got.next_check == date(2026, 2, 2)
        assert repo.record_sweep(pid, date(2026, 2, 2), [], 2, None, clinic_id=patient.clinic_id) == 3
        got = repo.get_patient(pid)
        assert got is not None
        assert got.next_check is None
        assert got.swept_through == date(2026, 2, 2)
        assert due_ids(repo, {pid}, date(2099, 1, 1)) == {}

    def test_transactions_have_a_size_limit(self, repo: PatientRepository) -> None:
        patient = f.stored()
        repo.create_patient(patient, f.audit())
        with pytest.raises(ValueError, match="at most 100"):
            repo.record_sweep(patient.patient_id, date(2026, 2, 1), [f"n{i}" for i in range(99)], 1, None)

    def test_a_long_dense_history_reads_back_whole(self, repo: PatientRepository) -> None:
        """Ten years of results three times a week and a thousand notice marks: far inside DynamoDB's 400 KB per
        item (one item per year of results, one for the marks), read back in one record."""
        pid = f.uid("dense")
        first = date(2016, 1, 4)
        results = tuple(
            replace(f.result(first + timedelta(days=n * 7 // 3)), result_id=f"{n:012x}") for n in range(3 * 52 * 10)
        )
        patient = f.stored(f.profile(pid), next_check=date(2026, 2, 1), results=results)
        repo.create_patient(patient, f.audit())
        version = 1
        keys_written = [f"{pid}#occurrence#cbc#{n}#{state}" for n in range(250) for state in ("due", "overdue")]
        keys_written += [f"{pid}#milestone#m{n}#2026-01-01" for n in range(500)]
        for start in range(0, len(keys_written), 98):
            chunk = keys_written[start : start + 98]
            version = repo.record_sweep(pid, date(2026, 2, 1), chunk, version, date(2026, 2, 2), clinic_id="clinic-a")
        version = repo.add_result(pid, replace(f.result(date(2026, 1, 30)), result_id="late"), version, None, f.audit())
        got = repo.get_patient(pid, consistent_read=False)
        assert got is not None
        assert got.version == version
        assert len(got.record.results) == len(results) + 1
        assert set(got.record.results) >= set(results)
        assert got.sent_notices == frozenset(keys_written)
        marks = repo.notice_marks(pid)
        assert [mark.key for mark in marks] == sorted(keys_written)
        assert {(mark.on, mark.clinic_id) for mark in marks} == {(date(2026, 2, 1), "clinic-a")}

    # -- the hourly sweep's per-clinic lease (DESIGN 8): one run at a time holds a date; done is done ------------
    def test_a_clinics_date_is_held_by_one_run_until_it_lapses_or_is_done(self, repo: PatientRepository) -> None:
        clinic = f.uid("clinic")
        six = datetime(2026, 11, 24, 5, tzinfo=UTC)
        day = date(2026, 11, 24)
        assert repo.claim_sweep(clinic, day, "run-a", six + timedelta(minutes=90), six)
        assert repo.claim_sweep(clinic, day, "run-a", six + timedelta(minutes=90), six)  # its own retry
        assert not repo.claim_sweep(clinic, day, "run-b", six + timedelta(hours=2), six + timedelta(hours=1))
        assert not repo.complete_sweep(clinic, day, "run-b")  # not its lease: nothing changes
        lapsed = six + timedelta(minutes=90)
        assert repo.claim_sweep(clinic, day, "run-b", lapsed + timedelta(minutes=90), lapsed)  # run-a crashed
        assert not repo.complete_sweep(clinic, day, "run-a")  # the crashed run cannot finish it any more
        assert repo.complete_sweep(clinic, day, "run-b")
        later = six + timedelta(hours=5)
        assert not repo.claim_sweep(clinic, day, "run-c", later + timedelta(minutes=90), later)  # done is done
        lease = repo.sweep_leases()[clinic]
        assert (lease.date, lease.run_id, lease.done) == (day, "run-b", True)
        assert lease.until == lapsed + timedelta(minutes=90)
        tomorrow = day + timedelta(days=1)
        assert repo.claim_sweep(clinic, tomorrow, "run-d", later + timedelta(days=1), later + timedelta(hours=20))
        assert not repo.claim_sweep(clinic, day, "run-e", later + timedelta(days=2), later + timedelta(days=1))
        assert repo.sweep_leases()[clinic].date == tomorrow  # an earlier date never replaces a later one
