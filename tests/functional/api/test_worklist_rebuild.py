"""POST /clinics/{id}/worklist/rebuild (DESIGN 8) through the enrollment handler under moto: patients stored before
the worklist projection existed (their profile carries none, the clinic's counters leave them out) join the worklist
and its counts; a page run twice writes nothing new; paging visits every patient once; bad input is 422."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from lemtrada import bootstrap

from tests.functional.api.conftest import ADMIN, CLINIC, CLINICIAN, Api

TODAY = "2026-11-24"
PROJECTION = ("ws", "wi", "wd", "wc", "worklist_clinic", "worklist_rank")


def _as_stored_before_the_projection(patient_ids: list[str]) -> None:
    """What a profile written before the projection looks like: none of its attributes, and counters at zero."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    table = bootstrap.settings().table_name
    for pid in patient_ids:
        client.update_item(
            TableName=table,
            Key={"pk": {"S": f"PATIENT#{pid}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression="REMOVE " + ", ".join(PROJECTION),
        )
    counters = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :w)",
        ExpressionAttributeValues={":pk": {"S": f"CLINIC#{CLINIC}"}, ":w": {"S": "WORKLIST#"}},
    )["Items"]
    for counter in counters:
        client.delete_item(TableName=table, Key={"pk": counter["pk"], "sk": counter["sk"]})


def _rebuild(api: Api, claims: dict[str, str] = ADMIN, **body: Any) -> Any:
    return api.call("post_worklist_rebuild", claims=claims, path=f"/clinics/{CLINIC}/worklist/rebuild", body=body)


def _worklist(api: Api) -> Any:
    reply = api.call("get_worklist", query={"date": TODAY})
    assert reply.status == 200, reply.raw
    return reply.body


@pytest.fixture
def old_patients(api: Api, clinic: str) -> list[str]:
    """Five patients, three with items (cbc overdue twice, a critical deviation), stored as before the projection."""
    ids = []
    for _ in range(5):
        reply = api.enroll()
        assert reply.status == 201, reply.raw
        ids.append(str(reply.body["patient_id"]))
    for pid in ids[:2]:
        assert api.infusion(pid, "2026-10-16").status == 201
    assert api.infusion(ids[2], "2026-11-23").status == 201
    _as_stored_before_the_projection(ids)
    return ids


def test_patients_stored_before_the_projection_join_the_worklist_once(api: Api, old_patients: list[str]) -> None:
    before = _worklist(api)
    assert before["patients"] == []
    assert before["counts"]["patients"] == 0

    seen: list[int] = []
    cursor = None
    while True:
        reply = _rebuild(api, limit=2, **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.raw
        seen.append(reply.body["examined"])
        assert reply.body["rebuilt"] == reply.body["examined"]  # every one of them lacked a projection
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    assert seen == [2, 2, 1]

    after = _worklist(api)
    assert [row["priority"] for row in after["patients"]] == ["critical", "major", "major"]
    assert {row["patient_id"] for row in after["patients"]} == set(old_patients[:3])
    assert after["counts"]["patients"] == 3
    assert after["counts"]["critical"] == sum(
        1 for row in after["patients"] for item in row["items"] if item["severity"] == "critical"
    )
    stored = bootstrap.repository().get_patient(old_patients[0])
    assert stored is not None
    assert stored.worklist is not None
    assert stored.next_check is not None
    assert stored.worklist.changes_on is not None
    assert stored.next_check <= stored.worklist.changes_on  # the sweep comes back on the day it changes by itself
    assert "worklist.rebuilt" in [entry.action for entry in bootstrap.repository().audit_trail(old_patients[0])]

    again = _rebuild(api, limit=100)
    assert again.body == {"examined": 5, "rebuilt": 0, "next_cursor": None}
    everything = _rebuild(api, limit=100, scope="all")
    assert everything.body["rebuilt"] == 0  # every stored projection already equals today's rule
    assert _worklist(api)["counts"] == after["counts"]  # counted once, not once per run


def test_a_stale_projection_is_rewritten_by_scope_all_only(api: Api, old_patients: list[str]) -> None:
    assert _rebuild(api, limit=100).body["rebuilt"] == 5
    client = boto3.client("dynamodb", region_name="eu-west-1")
    client.update_item(  # a projection computed by an older rule: the status differs from today's
        TableName=bootstrap.settings().table_name,
        Key={"pk": {"S": f"PATIENT#{old_patients[0]}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET ws = :s",
        ExpressionAttributeValues={":s": {"S": "completed"}},
    )
    assert _rebuild(api, limit=100).body["rebuilt"] == 0
    assert _rebuild(api, limit=100, scope="all").body["rebuilt"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"scope": "everyone"}, "scope"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    api: Api, old_patients: list[str], body: dict[str, Any], field: str
) -> None:
    reply = _rebuild(api, **body)
    assert reply.status == 422, reply.raw
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in reply.raw
    assert bootstrap.repository().get_patient(old_patients[0]).worklist is None  # type: ignore[union-attr]


def test_only_admins_rebuild_and_another_clinic_is_not_found(api: Api, old_patients: list[str]) -> None:
    assert _rebuild(api, claims=CLINICIAN).status == 404
    missing = api.call("post_worklist_rebuild", claims=ADMIN, path="/clinics/nowhere/worklist/rebuild", body={})
    assert missing.status == 404
    assert bootstrap.repository().get_patient(old_patients[0]).worklist is None  # type: ignore[union-attr]
