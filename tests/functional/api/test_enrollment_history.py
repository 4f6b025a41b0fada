"""DESIGN 8 "Enrolling with history" through the real enrollment handler under moto: the whole history stored in
one write, history findings stored acknowledged with action ``history``, the current critical one owed an alert,
every bad entry named (422, nothing stored), the 256 KB body limit on this route only, and idempotent retries."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
from lemtrada import bootstrap
from lemtrada.web.models import HISTORY_BODY_BYTES, MAX_BODY_BYTES

from tests.functional.api.conftest import CLINICIAN, NOW, Api
from tests.functional.conftest import load_event
from tests.support import bodies
from tests.support.history import history, old_critical_day, recent_critical_day

TODAY = date(2026, 11, 24)  # NOW in Europe/Paris


def _sample() -> dict[str, Any]:
    body = json.loads(load_event("enrollment/post_patients_history")["body"])
    assert isinstance(body, dict)
    return body


def _enroll(api: Api, body: dict[str, Any], **options: Any) -> Any:
    return api.call("post_patients", body=body, **options)


def _count_patients() -> int:
    return len(bootstrap.repository().list_clinic_patients("lyon-neuro", 100).patients)


def test_the_sample_event_is_the_shared_history_for_the_day_of_the_tests() -> None:
    assert _sample()["history"] == history(TODAY)


def test_enrolling_with_history_stores_it_in_date_order_and_settles_what_is_history(api: Api, clinic: str) -> None:
    reply = _enroll(api, _sample())
    assert reply.status == 201, reply.raw
    patient = reply.body
    assert [(c["course"], c["infusion_count"], c["complete"]) for c in patient["courses"]] == [
        (1, 5, True),
        (2, 3, True),
    ]
    assert patient["status"] == "monitoring"
    day_3 = patient["courses"][0]["infusions"][2]
    assert "dose_not_12mg" in [d["code"] for d in day_3["deviations"]]  # computed, stored, shown (history)
    old_day, recent_day = old_critical_day(TODAY).isoformat(), recent_critical_day(TODAY).isoformat()
    # Current: open, blocking readiness. History: stored acknowledged with action "history", shown in the profile.
    assert [(f["code"], f["date"]) for f in patient["open_findings"]] == [("platelets_below_100", recent_day)]
    (ack,) = patient["acknowledgements"]
    assert (ack["kind"], ack["action"], ack["by"]) == ("finding", "history", "system:history")
    stored = bootstrap.repository().get_patient(patient["patient_id"])
    assert stored is not None
    assert len(stored.record.results) == len(history(TODAY)["results"])
    (old,) = [f for r in stored.record.results for f in r.findings if f.date.isoformat() == old_day]
    assert ack["ref"] == old.finding_id
    assert old.acknowledged
    readiness = api.call(
        "get_readiness", path=f"/patients/{patient['patient_id']}/readiness", query={"start": "2027-01-15"}
    )
    assert "open_critical_finding" in [b["code"] for b in readiness.body["blockers"]]
    # The critical findings' alerts: the current one is owed (moto has no topic here, so it waits for the drain),
    # the old one never.
    owed = bootstrap.repository().owed_alerts(clinic)
    assert [(o.alert.code, o.alert.date.isoformat()) for o in owed] == [("platelets_below_100", recent_day)]
    # Acknowledging the history finding again answers the stored acknowledgement.
    again = api.acknowledge(patient["patient_id"], "finding", old.finding_id)
    assert again.status == 200, again.raw
    assert again.body["action"] == "history"
    audit = bootstrap.repository().audit_trail(patient["patient_id"])
    assert [a.action for a in audit] == ["patient.enrolled"]  # one write; the replayed acknowledgement wrote nothing


def test_the_current_alert_is_published_before_the_answer(api: Api, clinic: str) -> None:
    import boto3

    boto3.client("sns", region_name="eu-west-1").create_topic(Name="digest-test")
    reply = _enroll(api, _sample())
    assert reply.status == 201, reply.raw
    assert bootstrap.repository().owed_alerts(clinic) == ()  # published, then forgotten


@pytest.mark.parametrize(
    ("where", "change", "expected"),
    [
        ("infusions", {3: {"date": "2026-11-30"}}, ("history.infusions[3].date", "date_in_future")),
        ("infusions", {1: {"dose_mg": 0}}, ("history.infusions[1].dose_mg", "dose_out_of_range")),
        ("infusions", {6: {"date": "2022-02-30"}}, ("history.infusions[6].date", "value_error")),
        ("infusions", {5: {"course": 4}}, ("history.infusions[5].course", "invalid_course")),
        ("results", {12: {"analytes": [{"code": "platelets", "value": -3, "unit": "10*9/L"}]}}, None),
        ("results", {20: {"date": "2026-12-01"}}, ("history.results[20].date", "date_in_future")),
        ("results", {9: {"status": "maybe"}}, ("history.results[9].status", "invalid")),
        ("results", {2: {"analytes": [{"code": "tsh", "value": 1, "unit": "m[IU]/L"}]}}, None),
    ],
)
def test_a_bad_entry_is_422_naming_it_and_nothing_is_stored(
    api: Api, clinic: str, where: str, change: dict[int, dict[str, Any]], expected: tuple[str, str] | None
) -> None:
    body = _sample()
    entries = body["history"][where]
    for index, values in change.items():
        entries[index] = {**entries[index], **values}
    reply = _enroll(api, body)
    assert reply.status == 422, reply.raw
    fields = [(e.get("field"), e["code"]) for e in reply.body["errors"]]
    if expected is None:  # the analyte rules: the analyte's own field, prefixed by the entry
        index = next(iter(change))
        assert any(f is not None and f.startswith(f"history.results[{index}].analytes[0].") for f, _ in fields), fields
    else:
        assert expected in fields, fields
    assert _count_patients() == 0
    assert bootstrap.repository().owed_alerts(clinic) == ()


def test_every_bad_entry_is_named_at_once(api: Api, clinic: str) -> None:
    body = _sample()
    body["history"]["infusions"][3]["date"] = "2026-11-30"
    body["history"]["results"][12]["analytes"][0]["value"] = -1
    reply = _enroll(api, body)
    assert reply.status == 422, reply.raw
    fields = [e.get("field") for e in reply.body["errors"]]
    assert "history.infusions[3].date" in fields
    assert "history.results[12].analytes[0].value" in fields
    assert fields.index("history.infusions[3].date") < fields.index("history.results[12].analytes[0].value")
    assert _count_patients() == 0


def test_two_infusions_on_one_date_are_422_naming_the_second(api: Api, clinic: str) -> None:
    body = _sample()
    infusions = body["history"]["infusions"]
    infusions.append(copy.deepcopy(infusions[0]))
    reply = _enroll(api, body)
    assert reply.status == 422, reply.raw
    assert ("history.infusions[8].date", "duplicate_infusion") in [
        (e.get("field"), e["code"]) for e in reply.body["errors"]
    ]
    assert _count_patients() == 0


def test_more_infusions_than_one_write_holds_are_422(api: Api, clinic: str) -> None:
    body = _sample()
    body["history"]["infusions"] = [bodies.infusion(f"2025-0{1 + n // 28}-{1 + n % 28:02d}") for n in range(91)]
    reply = _enroll(api, body)
    assert reply.status == 422, reply.raw
    assert [e.get("field") for e in reply.body["errors"]] == ["history.infusions"]
    assert _count_patients() == 0


FULL_CBC = [
    {"code": "platelets", "value": 250, "unit": "10*9/L", "low": 150, "high": 400},
    {"code": "neutrophils", "value": 3.1, "unit": "10*9/L", "low": 1.8, "high": 7.5},
    {"code": "lymphocytes", "value": 1.9, "unit": "10*9/L", "low": 1.0, "high": 4.0},
    {"code": "wbc", "value": 6.2, "unit": "10*9/L", "low": 4.0, "high": 10.0},
    {"code": "hemoglobin", "value": 131, "unit": "g/L", "low": 120, "high": 160},
]


def _large_history(target: int) -> dict[str, Any]:
    """The sample plus filler results (a full cbc each, one a day) until the body is about ``target`` bytes."""
    body = _sample()
    results = body["history"]["results"]
    size = len(json.dumps(body, separators=(",", ":")))
    day = 0
    while size < target:
        when = date.fromordinal(date(2023, 1, 1).toordinal() + day)
        entry = {"item": "cbc", "date": when.isoformat(), "analytes": FULL_CBC}
        results.append(entry)
        size += len(json.dumps(entry, separators=(",", ":"))) + 1
        day += 1
    return body


def test_more_results_than_the_replay_takes_are_422(api: Api, clinic: str) -> None:
    body = _sample()
    body["history"]["results"] = [{"item": "skin_exam", "date": "2025-01-01"}] * 1001
    reply = _enroll(api, body)
    assert reply.status == 422, reply.raw
    assert [e.get("field") for e in reply.body["errors"]] == ["history.results"]


def test_bodies_up_to_256_kb_are_taken_on_this_route_only(api: Api, clinic: str, patient_id: str) -> None:
    body = _large_history(HISTORY_BODY_BYTES - 2048)
    raw = json.dumps(body, separators=(",", ":"))
    assert MAX_BODY_BYTES < len(raw) <= HISTORY_BODY_BYTES
    reply = _enroll(api, raw)  # type: ignore[arg-type]
    assert reply.status == 201, reply.raw[:500]
    stored = bootstrap.repository().get_patient(reply.body["patient_id"])
    assert stored is not None
    assert len(stored.record.results) == len(body["history"]["results"])
    # Past 256 KB: 413 before anything parses it.
    bigger = _large_history(HISTORY_BODY_BYTES + 1024)
    refused = _enroll(api, json.dumps(bigger, separators=(",", ":")))  # type: ignore[arg-type]
    assert refused.status == 413, refused.raw
    assert refused.body["code"] == "payload_too_large"
    # Every other route keeps its 16 KB.
    padded = {"item": "cbc", "date": "2026-11-20", "unit": "g/L", "value": 1, "status": "x" * (MAX_BODY_BYTES + 10)}
    other = api.call("post_result", claims=CLINICIAN, path=f"/patients/{patient_id}/results", body=padded)
    assert other.status == 413, other.raw
    patch = api.call("patch_patient", path=f"/patients/{patient_id}", body={"withdrawn": False, "x": "y" * 20_000})
    assert patch.status == 413, patch.raw


def test_a_retry_with_the_same_key_answers_the_first_reply_and_stores_once(api: Api, clinic: str) -> None:
    key = {"idempotency-key": "onboarding-0001"}
    first = _enroll(api, _sample(), headers=key)
    assert first.status == 201, first.raw
    again = _enroll(api, _sample(), headers=key)
    assert again.status == 201, again.raw
    assert again.body == first.body
    assert _count_patients() == 1
    assert len(bootstrap.repository().owed_alerts(clinic)) == 1  # owed once, by the one write
    changed = _sample()
    changed["history"]["results"].pop()
    reused = _enroll(api, changed, headers=key)
    assert reused.status == 422
    assert reused.body["code"] == "idempotency_key_reused"


def test_an_enrollment_without_history_is_unchanged(api: Api, clinic: str) -> None:
    reply = _enroll(api, bodies.enrollment())
    assert reply.status == 201, reply.raw
    assert reply.body["courses"] == []
    assert reply.body["acknowledgements"] == []
    empty = _enroll(api, bodies.enrollment(history={"infusions": [], "results": []}))
    assert empty.status == 201, empty.raw
    assert NOW.date() == TODAY
