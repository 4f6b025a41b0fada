"""Every route of the patient API through its real handler, with the sample events of events/, under moto."""

from __future__ import annotations

from typing import Any

import pytest
from lemtrada import bootstrap

from tests.functional.api.conftest import CLINIC, CLINICIAN, PATIENT, SAMPLE_PATIENT, Api

PROBLEM = "application/problem+json"


def _stored_patients(api: Api) -> int:
    return len(api.call("get_patients", claims=CLINICIAN, query={"limit": "100"}).body["patients"])


def test_put_clinic_creates_then_updates_with_etag(api: Api) -> None:
    created = api.call("put_clinic")
    assert created.status == 201
    assert created.body == {
        "clinic_id": "lyon-neuro",
        "name": "Lyon MS clinic",
        "timezone": "Europe/Paris",
        "label": "EU",
        "digest_hour": 6,
        "reminder_hour": 9,
        "version": 1,
    }
    assert created.headers["etag"] == '"1"'
    updated = api.call("put_clinic", headers={"If-Match": '"1"'})
    assert updated.status == 200
    assert updated.body["version"] == 2
    stale = api.call("put_clinic", headers={"If-Match": '"1"'})
    assert stale.status == 409
    assert stale.body["code"] == "version_conflict"


def test_put_clinic_rejects_unknown_time_zone(api: Api) -> None:
    reply = api.call("put_clinic", body={"name": "X", "timezone": "Mars/Olympus", "label": "US"})
    assert reply.status == 422
    assert reply.headers["content-type"] == PROBLEM
    assert reply.body["errors"][0]["field"] == "timezone"


@pytest.mark.parametrize("hour", [0, 23])
def test_put_clinic_keeps_its_digest_hour(api: Api, hour: int) -> None:
    body = {"name": "X", "timezone": "America/New_York", "label": "US", "digest_hour": hour}
    reply = api.call("put_clinic", body=body)
    assert reply.status == 201
    assert reply.body["digest_hour"] == hour
    again = api.call("put_clinic", body={**body, "digest_hour": 7}, headers={"If-Match": '"1"'})
    assert again.body["digest_hour"] == 7


@pytest.mark.parametrize("hour", [-1, 24, 6.5, "6", True, None])
def test_put_clinic_rejects_a_digest_hour_outside_0_to_23_and_stores_nothing(api: Api, hour: object) -> None:
    body = {"name": "X", "timezone": "America/New_York", "label": "US", "digest_hour": hour}
    reply = api.call("put_clinic", body=body)
    assert reply.status == 422
    assert reply.headers["content-type"] == PROBLEM
    assert reply.body["errors"][0]["field"] == "digest_hour"
    assert api.call("put_clinic", body={**body, "digest_hour": 6}).status == 201  # nothing was stored before


@pytest.mark.parametrize("hour", [-1, 24, "9", 9.5, None])
def test_reminder_hour_out_of_range_is_422_naming_it(api: Api, hour: object) -> None:
    body = {"name": "X", "timezone": "America/New_York", "label": "US", "reminder_hour": hour}
    reply = api.call("put_clinic", body=body)
    assert reply.status == 422
    assert reply.body["errors"][0]["field"] == "reminder_hour"
    stored = api.call("put_clinic", body={**body, "reminder_hour": 20})
    assert stored.status == 201
    assert stored.body["reminder_hour"] == 20


def test_enroll_answers_201_with_the_patient_and_links_the_user(api: Api, clinic: str) -> None:
    reply = api.call("post_patients")
    assert reply.status == 201, reply.raw
    body = reply.body
    assert body["status"] == "enrolled"
    assert body["clinic_id"] == CLINIC
    assert body["profile"]["warnings"] == []
    assert reply.headers["location"] == f"/patients/{body['patient_id']}"
    me = api.call("get_me")
    assert me.status == 200
    assert me.body["patient"]["patient_id"] == body["patient_id"]


def test_enroll_rejected_by_rules_gives_rule_codes_and_stores_nothing(api: Api, clinic: str) -> None:
    reply = api.enroll(birth_date="2012-01-01", contraindications=["hiv"], prior_dmt_count=0)
    assert reply.status == 422
    assert reply.headers["content-type"] == PROBLEM
    codes = [error["code"] for error in reply.body["errors"]]
    assert codes == ["not_adult", "contraindicated_hiv", "insufficient_prior_dmts"]
    assert reply.body["code"] == "not_adult"
    assert _stored_patients(api) == 0


def test_enroll_with_justification_is_stored_with_a_warning(api: Api, clinic: str) -> None:
    reply = api.enroll(prior_dmt_count=1, justification="intolerant of both available DMTs")
    assert reply.status == 201
    assert reply.body["profile"]["warnings"] == ["fewer_prior_dmts_than_label"]


def test_enroll_second_patient_for_the_same_user_is_409(api: Api, clinic: str) -> None:
    assert api.enroll(patient_sub=PATIENT["sub"]).status == 201
    again = api.enroll(patient_sub=PATIENT["sub"])
    assert again.status == 409
    assert again.body["code"] == "patient_sub_taken"


def test_malformed_enrollment_is_422_per_field_and_stores_nothing(api: Api, clinic: str) -> None:
    reply = api.enroll(birth_date="17/04/1988", sex="f", prior_dmt_count="2", unknown="x")
    assert reply.status == 422
    assert reply.body["code"] == "validation_error"
    fields = {error["field"] for error in reply.body["errors"]}
    assert fields == {"birth_date", "sex", "prior_dmt_count", "unknown"}
    assert _stored_patients(api) == 0


def test_body_that_is_not_json_is_422(api: Api, clinic: str) -> None:
    reply = api.call("post_patients", body="{not json")
    assert reply.status == 422
    assert reply.body["code"] == "validation_error"


def test_oversized_body_is_413_before_parsing(api: Api, clinic: str) -> None:
    reply = api.enroll(justification="x" * 300_000)  # POST /patients takes up to 256 KB (DESIGN 8: history)
    assert reply.status == 413
    assert reply.body["code"] == "payload_too_large"
    assert _stored_patients(api) == 0


def test_list_patients_pages_with_a_cursor(api: Api, clinic: str) -> None:
    for _ in range(3):
        assert api.enroll().status == 201
    first = api.call("get_patients", query={"limit": "2"})
    assert first.status == 200
    assert len(first.body["patients"]) == 2
    rest = api.call("get_patients", query={"limit": "2", "cursor": first.body["next_cursor"]})
    assert len(rest.body["patients"]) == 1
    assert rest.body["next_cursor"] is None
    bad = api.call("get_patients", query={"cursor": "garbage"})
    assert bad.status == 422


def test_patch_profile_honours_if_match(api: Api, patient_id: str) -> None:
    path = f"/patients/{patient_id}"
    reply = api.call("patch_patient", path=path, body={"active_infection": True}, headers={"If-Match": '"1"'})
    assert reply.status == 200, reply.raw
    assert reply.body["profile"]["active_infection"] is True
    assert reply.headers["etag"] == '"2"'
    stale = api.call("patch_patient", path=path, body={"withdrawn": True}, headers={"If-Match": '"1"'})
    assert stale.status == 409
    assert stale.body["code"] == "version_conflict"
    unguarded = api.call("patch_patient", path=path, body={"withdrawn": True})
    assert unguarded.status == 200
    assert unguarded.body["status"] == "withdrawn"


def test_patch_pregnancy_ongoing_then_ended(api: Api, patient_id: str) -> None:
    path = f"/patients/{patient_id}"
    ongoing = api.call("patch_patient", path=path, body={"pregnancy": {"state": "ongoing", "date": "2026-11-01"}})
    assert ongoing.body["profile"]["pregnant"] is True
    ended = api.call("patch_patient", path=path, body={"pregnancy": {"state": "ended", "date": "2026-11-20"}})
    assert ended.body["profile"]["pregnant"] is False
    assert ended.body["profile"]["pregnancies"] == [{"reported_on": "2026-11-01", "ended_on": "2026-11-20"}]
    empty = api.call("patch_patient", path=path, body={})
    assert empty.status == 422


def test_record_infusion_then_replay_then_conflict(api: Api, patient_id: str) -> None:
    first = api.infusion(patient_id, "2026-11-23")
    assert first.status == 201, first.raw
    assert (first.body["course"], first.body["day"]) == (1, 1)
    assert "started_with_blockers" in [d["code"] for d in first.body["deviations"]]
    replay = api.infusion(patient_id, "2026-11-23")
    assert replay.status == 200
    assert replay.body == first.body
    different = api.infusion(patient_id, "2026-11-23", dose_mg=10)
    assert different.status == 409
    assert different.body["code"] == "duplicate_infusion"


@pytest.mark.parametrize(
    ("sample", "body", "field"),
    [
        ("infusion", None, None),  # a rule finding: code, detail and the label section, no field
        ("result", {"item": "cbc", "date": "2026-11-25"}, "date"),
        ("birth", None, "birth_date"),
        ("pregnancy", {"pregnancy": {"state": "ongoing", "date": "2026-11-25"}}, "pregnancy.date"),
        ("pregnancy-end", {"pregnancy": {"state": "ended", "date": "2026-11-25"}}, "pregnancy.date"),
    ],
)
def test_any_date_after_the_clinics_today_is_date_in_future(
    api: Api, patient_id: str, sample: str, body: dict[str, Any] | None, field: str | None
) -> None:
    """Clinic today is 2026-11-24 (Europe/Paris); the 25th is refused with one code whichever field carries it."""
    path = f"/patients/{patient_id}"
    if sample == "pregnancy-end":
        ongoing = {"pregnancy": {"state": "ongoing", "date": "2026-11-01"}}
        assert api.call("patch_patient", path=path, body=ongoing).status == 200
    if sample == "infusion":
        reply = api.infusion(patient_id, "2026-11-25")
    elif sample == "result":
        reply = api.call("post_result", path=f"{path}/results", body=body)
    elif sample == "birth":
        reply = api.enroll(birth_date="2026-11-25")
    else:
        reply = api.call("patch_patient", path=path, body=body)
    assert reply.status == 422, reply.raw
    assert reply.body["code"] == "date_in_future"
    assert reply.body["errors"][0]["code"] == "date_in_future"
    assert reply.body["errors"][0].get("field") == field


def test_infusion_rule_rejections_are_422_and_store_nothing(api: Api, patient_id: str) -> None:
    future = api.infusion(patient_id, "2026-11-25")
    assert future.status == 422
    assert future.body["code"] != "validation_error"
    backwards = api.infusion(patient_id, "2026-11-23", ended_at="2026-11-23T08:00:00+01:00", dose_mg=0)
    assert backwards.status == 422
    assert len(backwards.body["errors"]) >= 2
    no_offset = api.infusion(patient_id, "2026-11-23", started_at="2026-11-23T08:40:00")
    assert no_offset.status == 422
    assert no_offset.body["errors"][0]["field"] == "started_at"
    patient = api.call("get_patient", path=f"/patients/{patient_id}")
    assert patient.body["courses"] == []


def test_result_answers_the_occurrence_it_satisfied(api: Api, patient_id: str) -> None:
    assert api.infusion(patient_id, "2026-11-23").status == 201
    baseline = api.result(patient_id, "cbc", "2026-11-20", value=5.1, unit="10^9/L")
    assert baseline.status == 201
    assert baseline.body["satisfied"] is None
    vzv = api.result(patient_id, "vzv", "2026-11-20")
    assert vzv.status == 422
    assert vzv.body["errors"][0]["field"] == "status"
    assert api.result(patient_id, "vzv", "2026-11-20", status="antibody_positive").status == 201


def test_readiness_lists_blockers(api: Api, patient_id: str) -> None:
    reply = api.call("get_readiness", path=f"/patients/{patient_id}/readiness", query={"start": "2026-12-01"})
    assert reply.status == 200
    assert reply.body["ready"] is False
    assert reply.body["course"] == 1
    assert "baseline_labs" in [b["code"] for b in reply.body["blockers"]]
    bad = api.call("get_readiness", path=f"/patients/{patient_id}/readiness", query={"start": "2026-1-1"})
    assert bad.status == 422


def test_schedule_and_calendar(api: Api, patient_id: str) -> None:
    assert api.infusion(patient_id, "2026-11-23").status == 201
    schedule = api.call("get_schedule", path=f"/patients/{patient_id}/schedule", query={"as_of": "2026-11-24"})
    assert schedule.status == 200, schedule.raw
    first = schedule.body["occurrences"][0]
    assert first["due_date"] == "2026-12-23"
    assert schedule.body["monitoring_ends"] == "2030-11-23"
    ics = api.call("get_schedule_ics", path=f"/patients/{patient_id}/schedule.ics")
    assert ics.status == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.raw.startswith("BEGIN:VCALENDAR")
    assert f"UID:{patient_id}-cbc-1@lemtrada-regimen" in ics.raw
    assert ics.raw.count("BEGIN:VEVENT") == len(schedule.body["occurrences"]) + len(schedule.body["milestones"])


def _items(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for patient in body["patients"] for item in patient["items"] if item["kind"] == kind]


def test_worklist_lists_what_needs_attention(api: Api, patient_id: str) -> None:
    assert api.infusion(patient_id, "2026-11-23").status == 201
    reply = api.call("get_worklist", query={"date": "2026-12-20"})
    assert reply.status == 200, reply.raw
    assert ("cbc", 1, "due") in {(o["code"], o["k"], o["state"]) for o in _items(reply.body, "occurrence")}
    later = api.call("get_worklist", query={"date": "2027-01-01"})
    assert ("cbc", 1, "overdue") in {(o["code"], o["k"], o["state"]) for o in _items(later.body, "occurrence")}
    assert _items(later.body, "deviation") == []  # the infusion lies more than 30 days before the date
    today = api.call("get_worklist", query={"date": "2026-11-24"})
    assert "started_with_blockers" in [d["code"] for d in _items(today.body, "deviation")]
    # the clinic's today, from the projection: grouped by patient, counted, critical first
    (row,) = today.body["patients"]
    assert row["patient_id"] == patient_id
    assert row["status"] == "in_treatment"
    assert row["priority"] == "critical"
    assert today.body["counts"]["patients"] == 1
    assert today.body["counts"]["critical"] == sum(1 for i in row["items"] if i["severity"] == "critical")
    assert today.body["next_cursor"] is None
    listed = api.call("get_patients")
    assert [(p["status"], p["priority"]) for p in listed.body["patients"]] == [("in_treatment", "critical")]


def test_me_without_a_linked_patient_is_404(api: Api, clinic: str) -> None:
    reply = api.call("get_me")
    assert reply.status == 404
    assert reply.body["code"] == "not_found"


def test_unknown_patient_is_404_problem(api: Api, clinic: str) -> None:
    reply = api.call("get_patient", path=f"/patients/{SAMPLE_PATIENT}")
    assert reply.status == 404
    assert reply.headers["content-type"] == PROBLEM


def test_writes_append_audit_entries_without_bodies(api: Api, patient_id: str) -> None:
    assert api.infusion(patient_id, "2026-11-23").status == 201
    trail = bootstrap.repository().audit_trail(patient_id)
    assert sorted(entry.action for entry in trail) == ["infusion.recorded", "patient.enrolled"]
    infusion = next(entry for entry in trail if entry.action == "infusion.recorded")
    assert infusion.actor_sub == CLINICIAN["sub"]
    assert infusion.actor_role == "clinicians"
    assert infusion.target == "INFUSION#2026-11-23"
