"""DESIGN 7 through the real handlers under moto: analytes on results, safety findings where they show,
acknowledgements, and every bad input refused with the field named and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from lemtrada import bootstrap

from tests.functional.api.conftest import CLINICIAN, OTHER_CLINICIAN, PATIENT, Api
from tests.support import bodies

PLATELETS_15 = [
    {"code": "platelets", "value": 15, "unit": "10*9/L", "low": 150, "high": 400},
    {"code": "hemoglobin", "value": 12.8, "unit": "g/dL"},
]


def _cbc(api: Api, patient_id: str, day: str = "2026-11-20", analytes: Any = None, **options: Any) -> Any:
    body = {"item": "cbc", "date": day, "analytes": PLATELETS_15 if analytes is None else analytes}
    return api.call("post_result", path=f"/patients/{patient_id}/results", body=body, **options)


def _stored(patient_id: str) -> Any:
    stored = bootstrap.repository().get_patient(patient_id)
    assert stored is not None
    return stored


def test_the_sample_result_with_analytes_raises_a_critical_finding(api: Api, patient_id: str) -> None:
    body = bodies.sample_body("recording", "post_result_analytes")
    reply = api.call("post_result_analytes", path=f"/patients/{patient_id}/results", body=body)
    assert reply.status == 201, reply.raw
    assert [a["code"] for a in reply.body["analytes"]] == ["platelets", "neutrophils", "hemoglobin"]
    assert reply.body["analytes"][0] == {
        "code": "platelets",
        "value": 15.0,
        "unit": "10*9/L",
        "low": 150.0,
        "high": 400.0,
    }
    (finding,) = reply.body["findings"]
    assert finding["code"] == "platelets_below_100"
    assert finding["severity"] == "critical"
    assert finding["finding_id"] == f"{reply.body['result_id']}:platelets_below_100"
    assert "Immune Thrombocytopenia" in finding["source"]


def _items(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [item for patient in body["patients"] for item in patient["items"] if item["kind"] == kind]


def test_a_critical_finding_shows_on_the_patient_readiness_schedule_and_worklist(api: Api, patient_id: str) -> None:
    reply = _cbc(api, patient_id)
    assert reply.status == 201, reply.raw
    finding_id = reply.body["findings"][0]["finding_id"]
    patient = api.call("get_patient", path=f"/patients/{patient_id}")
    assert [f["finding_id"] for f in patient.body["open_findings"]] == [finding_id]
    readiness = api.call("get_readiness", path=f"/patients/{patient_id}/readiness", query={"start": "2026-12-01"})
    assert "open_critical_finding" in [b["code"] for b in readiness.body["blockers"]]
    worklist = api.call("get_worklist", query={"date": "2026-11-24"})
    assert [(p["patient_id"], p["priority"]) for p in worklist.body["patients"]] == [(patient_id, "critical")]
    assert [(f["code"], f["severity"], f["ref"]) for f in _items(worklist.body, "finding")] == [
        ("platelets_below_100", "critical", finding_id)
    ]
    me = api.call("get_me", claims=PATIENT)
    assert me.status == 200
    assert [f["code"] for f in me.body["patient"]["open_findings"]] == ["platelets_below_100"]


def test_the_schedule_occurrence_carries_its_results_findings(api: Api, patient_id: str) -> None:
    assert api.infusion(patient_id, "2026-10-20").status == 201
    reply = _cbc(api, patient_id, "2026-11-20")
    assert reply.status == 201, reply.raw
    assert reply.body["satisfied"]["item"] == "cbc"
    schedule = api.call("get_schedule", path=f"/patients/{patient_id}/schedule", query={"as_of": "2026-11-24"})
    (occurrence,) = [o for o in schedule.body["occurrences"] if o["satisfied_by"] == reply.body["result_id"]]
    assert [f["code"] for f in occurrence["findings"]] == ["platelets_below_100"]
    unsatisfied = [o for o in schedule.body["occurrences"] if o["satisfied_by"] is None]
    assert all(o["findings"] == [] for o in unsatisfied)


def test_a_late_typed_result_adds_a_finding_to_a_stored_result(api: Api, patient_id: str) -> None:
    """A 110 is stored first; a 300 dated a month before it, typed in afterwards, makes the 110 a halving: the
    finding lands on the stored 110, in the same write, and the response names that result."""
    later = _cbc(api, patient_id, "2026-11-20", [{"code": "platelets", "value": 110, "unit": "10*9/L"}])
    assert [f["code"] for f in later.body["findings"]] == ["platelets_below_range"]
    early = _cbc(api, patient_id, "2026-10-20", [{"code": "platelets", "value": 300, "unit": "10*3/uL"}])
    assert early.status == 201, early.raw
    assert [(f["result_id"], f["code"]) for f in early.body["findings"]] == [
        (later.body["result_id"], "platelets_halved")
    ]
    stored = _stored(patient_id)
    by_id = {r.result_id: [f.code for f in r.findings] for r in stored.record.results}
    assert by_id == {
        later.body["result_id"]: ["platelets_below_range", "platelets_halved"],
        early.body["result_id"]: [],
    }


def test_round_1_cd4_value_is_the_cd4_analyte(api: Api, patient_id: str) -> None:
    reply = api.result(patient_id, "cd4", "2026-11-20", value=420, unit="cells/uL")
    assert reply.status == 201, reply.raw
    bad = api.result(patient_id, "cd4", "2026-11-21", value=420, unit="mmol/L")
    assert bad.status == 422
    assert (bad.body["code"], bad.body["errors"][0]["field"]) == ("unit_not_accepted", "unit")


@pytest.mark.parametrize(
    ("analytes", "code", "field"),
    [
        (
            [{"code": "platelets", "value": 200, "unit": "10*9/L"}, {"code": "tsh", "value": 2, "unit": "m[IU]/L"}],
            "analyte_not_of_item",
            "analytes[1].code",
        ),
        ([{"code": "nonsense", "value": 1, "unit": "g/L"}], "analyte_not_of_item", "analytes[0].code"),
        ([{"code": "platelets", "value": 200, "unit": "mg/dL"}], "unit_not_accepted", "analytes[0].unit"),
        ([{"code": "platelets", "value": -1, "unit": "10*9/L"}], "validation_error", "analytes[0].value"),
        ([{"code": "hemoglobin", "value": 12, "unit": "g/dL", "low": -3}], "validation_error", "analytes[0].low"),
        (
            [{"code": "platelets", "value": 200, "unit": "10*9/L", "low": 400, "high": 150}],
            "validation_error",
            "analytes[0].low",
        ),
        (
            [
                {"code": "platelets", "value": 200, "unit": "10*9/L"},
                {"code": "wbc", "value": 6, "unit": "10*9/L"},
                {"code": "platelets", "value": 210, "unit": "10*3/uL"},
            ],
            "validation_error",
            "analytes[2].code",
        ),
        ([{"code": "platelets", "value": "200", "unit": "10*9/L"}], "validation_error", "analytes[0].value"),
        ([{"code": "platelets", "value": 200}], "validation_error", "analytes[0].unit"),
    ],
)
def test_bad_analytes_are_422_naming_the_field_and_store_nothing(
    api: Api, patient_id: str, analytes: list[dict[str, Any]], code: str, field: str
) -> None:
    before = _stored(patient_id)
    reply = _cbc(api, patient_id, analytes=analytes)
    assert reply.status == 422, reply.raw
    assert reply.body["code"] == code
    assert field in [e["field"] for e in reply.body["errors"]]
    after = _stored(patient_id)
    assert (after.version, after.record.results) == (before.version, ())


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_analyte_values_are_422(api: Api, patient_id: str, number: str) -> None:
    analyte = '{"code":"platelets","value":' + number + ',"unit":"10*9/L"}'
    raw = '{"item":"cbc","date":"2026-11-20","analytes":[' + analyte + "]}"
    reply = api.call("post_result", path=f"/patients/{patient_id}/results", body=raw)
    assert reply.status == 422, reply.raw
    assert reply.body["code"] == "validation_error"
    assert "analytes[0].value" in [e["field"] for e in reply.body["errors"]]
    assert _stored(patient_id).record.results == ()


def test_acknowledging_a_finding_closes_it_once(api: Api, patient_id: str) -> None:
    finding_id = _cbc(api, patient_id).body["findings"][0]["finding_id"]
    first = api.acknowledge(patient_id, "finding", finding_id, "repeat_test_ordered")
    assert first.status == 201, first.raw
    assert {k: first.body[k] for k in ("kind", "ref", "action", "by")} == {
        "kind": "finding",
        "ref": finding_id,
        "action": "repeat_test_ordered",
        "by": CLINICIAN["sub"],
    }
    assert first.body["at"].startswith("2026-11-24T09:30:00")
    again = api.acknowledge(patient_id, "finding", finding_id, "referred")
    assert again.status == 200
    assert again.body == first.body
    patient = api.call("get_patient", path=f"/patients/{patient_id}")
    assert patient.body["open_findings"] == []
    readiness = api.call("get_readiness", path=f"/patients/{patient_id}/readiness", query={"start": "2026-12-01"})
    assert "open_critical_finding" not in [b["code"] for b in readiness.body["blockers"]]
    worklist = api.call("get_worklist", query={"date": "2026-11-24"})
    assert _items(worklist.body, "finding") == []
    trail = bootstrap.repository().audit_trail(patient_id)
    assert [(e.action, e.target) for e in trail if e.action == "acknowledgement.recorded"] == [
        ("acknowledgement.recorded", f"ACK#finding#{finding_id}")
    ]


def test_an_acknowledgement_replayed_with_its_idempotency_key_answers_the_first_reply(
    api: Api, patient_id: str
) -> None:
    finding_id = _cbc(api, patient_id).body["findings"][0]["finding_id"]
    key = {"Idempotency-Key": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"}
    first = api.acknowledge(patient_id, "finding", finding_id, headers=key)
    replay = api.acknowledge(patient_id, "finding", finding_id, headers=key)
    assert (first.status, replay.status) == (201, 201)
    assert replay.body == first.body
    assert _stored(patient_id).version == 3  # enrolled, result, one acknowledgement


def test_acknowledging_a_deviation_and_an_overdue_occurrence(api: Api, patient_id: str) -> None:
    """One infusion on 2026-10-16 (started with blockers): on 2026-11-24 the first cbc is overdue (its deviation,
    39 days before the enrollment of 2026-11-24, is history: never on the worklist, still acknowledgeable)."""
    infusion = api.infusion(patient_id, "2026-10-16")
    assert infusion.status == 201, infusion.raw
    deviation = infusion.body["deviations"][0]["code"]
    worklist = api.call("get_worklist", query={"date": "2026-11-24"})
    late = [o for o in _items(worklist.body, "occurrence") if o["state"] in ("overdue", "missed")]
    assert late, worklist.raw
    ref = late[0]["ref"]
    assert ref == f"{late[0]['code']}:{late[0]['k']}"
    assert api.acknowledge(patient_id, "occurrence", ref, "patient_contacted").status == 201
    assert api.acknowledge(patient_id, "deviation", f"2026-10-16:{deviation}").status == 201
    after = api.call("get_worklist", query={"date": "2026-11-24"})
    assert ref not in {o["ref"] for o in _items(after.body, "occurrence")}
    assert _items(after.body, "deviation") == []
    # the projection and a computation for the same date agree
    assert api.call("get_worklist", query={"date": "2026-11-25"}).body["patients"][0]["items"][0]["ref"] != ref


def test_acknowledgement_refusals(api: Api, patient_id: str) -> None:
    assert api.infusion(patient_id, "2026-11-23").status == 201
    version = _stored(patient_id).version
    unknown = api.acknowledge(patient_id, "finding", "nosuchresult:platelets_below_100")
    assert (unknown.status, unknown.body["code"]) == (404, "not_found")
    assert api.acknowledge(patient_id, "deviation", "2026-11-23:no_such_code").status == 404
    assert api.acknowledge(patient_id, "occurrence", "cbc:99").status == 404
    upcoming = api.acknowledge(patient_id, "occurrence", "cbc:1")
    assert upcoming.status == 422, upcoming.raw
    assert upcoming.body["code"] == "not_acknowledgeable"
    assert upcoming.body["errors"][0]["field"] == "ref"
    bad_action = api.acknowledge(patient_id, "finding", "x:y", "ignored")
    assert (bad_action.status, bad_action.body["errors"][0]["field"]) == (422, "action")
    foreign = api.acknowledge(patient_id, "occurrence", "cbc:1", claims=OTHER_CLINICIAN)
    assert foreign.status == 404
    as_patient = api.acknowledge(patient_id, "occurrence", "cbc:1", claims=PATIENT)
    assert as_patient.status == 404
    assert _stored(patient_id).version == version


def test_a_due_occurrence_is_not_acknowledgeable(api: Api, patient_id: str) -> None:
    assert api.infusion(patient_id, "2026-10-27").status == 201
    schedule = api.call("get_schedule", path=f"/patients/{patient_id}/schedule", query={"as_of": "2026-11-24"})
    due = [o for o in schedule.body["occurrences"] if o["status"] == "due"]
    assert due, schedule.raw
    reply = api.acknowledge(patient_id, "occurrence", f"{due[0]['item']}:{due[0]['k']}")
    assert (reply.status, reply.body["code"]) == (422, "not_acknowledgeable")


def test_results_of_another_clinics_patient_are_404(api: Api, patient_id: str) -> None:
    reply = _cbc(api, patient_id, claims=OTHER_CLINICIAN)
    assert reply.status == 404
    assert _stored(patient_id).record.results == ()


def test_rapidly_evolving_severe_admits_zero_prior_dmts_in_the_eu(api: Api) -> None:
    assert api.put_clinic(label="EU").status == 201
    refused = api.enroll(prior_dmt_count=0)
    assert refused.status == 422, refused.raw
    admitted = api.enroll(prior_dmt_count=0, rapidly_evolving_severe=True)
    assert admitted.status == 201, admitted.raw
    assert _stored(admitted.body["patient_id"]).record.profile.enrollment.rapidly_evolving_severe
    assert admitted.body["profile"]["rapidly_evolving_severe"] is True
    not_bool = api.enroll(prior_dmt_count=0, rapidly_evolving_severe="yes")
    assert (not_bool.status, not_bool.body["errors"][0]["field"]) == (422, "rapidly_evolving_severe")


def test_the_results_route_lists_values_ranges_and_findings_newest_first(api: Api, patient_id: str) -> None:
    """What the console's patient screen shows (DESIGN 11): each result with its analytes and findings."""
    assert api.infusion(patient_id, "2026-10-20").status == 201
    older = _cbc(api, patient_id, "2026-11-10", analytes=[{"code": "platelets", "value": 210, "unit": "10*3/uL"}])
    newer = _cbc(api, patient_id, "2026-11-20")
    assert (older.status, newer.status) == (201, 201)
    reply = api.call("get_results", path=f"/patients/{patient_id}/results")
    assert reply.status == 200, reply.raw
    assert reply.body["patient_id"] == patient_id
    results = reply.body["results"]
    assert [r["result_id"] for r in results] == [newer.body["result_id"], older.body["result_id"]]
    assert results[0]["analytes"] == newer.body["analytes"]
    assert results[0]["analytes"][0] == {
        "code": "platelets",
        "value": 15.0,
        "unit": "10*9/L",
        "low": 150.0,
        "high": 400.0,
    }
    assert [(f["code"], f["severity"]) for f in results[0]["findings"]] == [("platelets_below_100", "critical")]
    assert results[1]["findings"] == []
    assert results[1]["analytes"] == [
        {"code": "platelets", "value": 210.0, "unit": "10*3/uL", "low": None, "high": None}
    ]
    assert {r["satisfied"]["item"] for r in results if r["satisfied"]} == {"cbc"}


def test_the_results_route_answers_404_past_the_callers_patients(api: Api, patient_id: str) -> None:
    assert _cbc(api, patient_id).status == 201
    path = f"/patients/{patient_id}/results"
    assert api.call("get_results", path=path, claims=OTHER_CLINICIAN).status == 404
    assert api.call("get_results", path="/patients/0123456789abcdef0123456789abcdef/results").status == 404
