"""Idempotency-Key: a retried write answers the first answer again and stores once; keys are per caller."""

from __future__ import annotations

from lemtrada import bootstrap

from tests.functional.api.conftest import CLINICIAN, OTHER_CLINICIAN, Api


def _key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def test_replayed_enrollment_returns_the_same_answer_and_stores_once(api: Api, clinic: str) -> None:
    first = api.call("post_patients", headers=_key("enroll-1"))
    again = api.call("post_patients", headers=_key("enroll-1"))
    assert first.status == again.status == 201
    assert first.body == again.body
    listed = api.call("get_patients", claims=CLINICIAN)
    assert len(listed.body["patients"]) == 1


def test_replayed_infusion_returns_201_again_and_stores_once(api: Api, patient_id: str) -> None:
    path = f"/patients/{patient_id}/infusions"
    first = api.call("post_infusion", path=path, headers=_key("inf-1"))
    again = api.call("post_infusion", path=path, headers=_key("inf-1"))
    assert first.status == again.status == 201
    assert first.raw == again.raw
    stored = bootstrap.repository().get_patient(patient_id)
    assert stored is not None
    assert len(stored.record.infusions) == 1
    assert stored.version == 2


def test_replayed_result_stores_one_result(api: Api, patient_id: str) -> None:
    path = f"/patients/{patient_id}/results"
    first = api.call("post_result", path=path, headers=_key("res-1"))
    again = api.call("post_result", path=path, headers=_key("res-1"))
    assert first.body["result_id"] == again.body["result_id"]
    stored = bootstrap.repository().get_patient(patient_id)
    assert stored is not None
    assert len(stored.record.results) == 1


def test_same_key_with_another_body_is_refused(api: Api, patient_id: str) -> None:
    path = f"/patients/{patient_id}/results"
    assert api.call("post_result", path=path, headers=_key("res-2")).status == 201
    other = api.call("post_result", path=path, headers=_key("res-2"), body={"item": "liver", "date": "2026-11-20"})
    assert other.status == 422
    assert other.body["code"] == "idempotency_key_reused"
    stored = bootstrap.repository().get_patient(patient_id)
    assert stored is not None
    assert len(stored.record.results) == 1


def test_two_callers_with_the_same_key_do_not_collide(api: Api, clinic: str) -> None:
    assert api.put_clinic("nantes-sep").status == 201
    body = {
        "birth_date": "1979-06-30",
        "sex": "male",
        "reproductive_potential": False,
        "diagnosis": "active_secondary_progressive",
        "prior_dmt_count": 4,
        "contraindications": [],
    }
    mine = api.call("post_patients", body=body, headers=_key("shared"))
    theirs = api.call("post_patients", claims=OTHER_CLINICIAN, body=body, headers=_key("shared"))
    assert mine.status == theirs.status == 201
    assert mine.body["patient_id"] != theirs.body["patient_id"]
    assert theirs.body["clinic_id"] == "nantes-sep"


def test_a_failed_write_is_not_remembered(api: Api, clinic: str) -> None:
    body = {
        "birth_date": "2015-01-01",
        "sex": "female",
        "reproductive_potential": True,
        "diagnosis": "relapsing_remitting",
        "prior_dmt_count": 2,
        "contraindications": [],
    }
    assert api.call("post_patients", body=body, headers=_key("k-fail")).status == 422
    corrected = api.call("post_patients", body={**body, "birth_date": "1990-01-01"}, headers=_key("k-fail"))
    assert corrected.status == 201


def test_malformed_key_is_422(api: Api, clinic: str) -> None:
    reply = api.call("post_patients", headers=_key("x" * 200))
    assert reply.status == 422
    assert reply.body["errors"][0]["field"] == "Idempotency-Key"
