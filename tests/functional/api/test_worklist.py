"""GET /clinics/{id}/worklist (DESIGN 8) through the reading handler under moto: the projection on the clinic's
today, paging, the severity filter, counts, and the 422s of bad input."""

from __future__ import annotations

from typing import Any

import pytest
from lemtrada import bootstrap

from tests.functional.api.conftest import CLINIC, OTHER_CLINIC, Api

TODAY = "2026-11-24"  # NOW's date in Europe/Paris


def _worklist(api: Api, **query: str) -> Any:
    return api.call("get_worklist", query={"date": TODAY, **query})


@pytest.fixture
def clinic_with_patients(api: Api, clinic: str) -> list[str]:
    """Five patients: two infused 2026-10-16 (cbc overdue: major), one infused yesterday (a critical deviation,
    started with blockers), two with nothing (no items: off the worklist)."""
    ids = []
    for _ in range(5):
        reply = api.enroll()
        assert reply.status == 201, reply.raw
        ids.append(str(reply.body["patient_id"]))
    for pid in ids[:2]:
        assert api.infusion(pid, "2026-10-16").status == 201
    assert api.infusion(ids[2], "2026-11-23").status == 201
    return ids


def test_grouped_by_patient_priority_first_then_counts(api: Api, clinic_with_patients: list[str]) -> None:
    reply = _worklist(api)
    assert reply.status == 200, reply.raw
    body = reply.body
    assert body["clinic_id"] == CLINIC
    assert body["date"] == TODAY
    rows = body["patients"]
    assert rows[0]["patient_id"] == clinic_with_patients[2]  # critical first
    assert {r["patient_id"] for r in rows[1:]} == set(clinic_with_patients[:2])
    assert [r["priority"] for r in rows] == ["critical", "major", "major"]
    counts = body["counts"]
    assert counts["patients"] == 3
    for severity in ("critical", "major", "minor", "info"):
        assert counts[severity] == sum(1 for r in rows for i in r["items"] if i["severity"] == severity)
    assert body["next_cursor"] is None
    stored = bootstrap.repository().get_patient(clinic_with_patients[0])
    assert stored is not None
    assert stored.worklist is not None
    assert stored.next_check is not None
    assert stored.worklist.changes_on is not None
    assert stored.next_check <= stored.worklist.changes_on  # the sweep comes back when it changes by itself


def test_paging_returns_every_patient_once_and_the_filter(api: Api, clinic_with_patients: list[str]) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "1"} if cursor is None else {"limit": "1", "cursor": cursor}
        reply = _worklist(api, **query)
        assert reply.status == 200, reply.raw
        assert len(reply.body["patients"]) <= 1
        seen += [r["patient_id"] for r in reply.body["patients"]]
        cursor = reply.body["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(clinic_with_patients[:3])
    critical = _worklist(api, severity="critical")
    assert [r["patient_id"] for r in critical.body["patients"]] == [clinic_with_patients[2]]
    assert critical.body["counts"]["patients"] == 3  # counts are the whole clinic's
    assert len(_worklist(api, severity="major").body["patients"]) == 3
    assert len(_worklist(api, severity="info").body["patients"]) == 3


def test_an_acknowledgement_takes_the_item_off_and_moves_the_counts(api: Api, clinic_with_patients: list[str]) -> None:
    pid = clinic_with_patients[2]
    (row,) = _worklist(api, severity="critical").body["patients"]
    deviation = next(i for i in row["items"] if i["kind"] == "deviation" and i["severity"] == "critical")
    before = _worklist(api).body["counts"]
    assert api.acknowledge(pid, "deviation", deviation["ref"]).status == 201
    after = _worklist(api)
    refs = {i["ref"] for r in after.body["patients"] if r["patient_id"] == pid for i in r["items"]}
    assert deviation["ref"] not in refs
    assert after.body["counts"]["critical"] == before["critical"] - 1


def test_get_patients_rows_carry_status_and_priority(api: Api, clinic_with_patients: list[str]) -> None:
    rows = {p["patient_id"]: p for p in api.call("get_patients", query={"limit": "100"}).body["patients"]}
    assert rows[clinic_with_patients[2]]["priority"] == "critical"
    assert rows[clinic_with_patients[0]]["priority"] == "major"
    assert rows[clinic_with_patients[0]]["status"] == "in_treatment"
    assert rows[clinic_with_patients[4]]["priority"] is None
    assert rows[clinic_with_patients[4]]["status"] == "enrolled"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"severity": "urgent"}, "severity"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_input_is_422_naming_the_field(api: Api, clinic: str, query: dict[str, str], field: str) -> None:
    reply = _worklist(api, **query)
    assert reply.status == 422, reply.raw
    assert reply.headers["content-type"].startswith("application/problem+json")
    fields = {e.get("field") for e in reply.body.get("errors", [])}
    assert fields & {field, f"query.{field}"}, reply.raw


def test_a_cursor_of_another_clinic_is_refused(api: Api, clinic_with_patients: list[str]) -> None:
    from lemtrada.storage import keys

    foreign = keys.encode_worklist_cursor(OTHER_CLINIC, f"0#2026-11-23#{clinic_with_patients[2]}")
    reply = _worklist(api, cursor=foreign)
    assert reply.status == 422
    assert "cursor" in {e.get("field") for e in reply.body["errors"]}  # the service's check: the field itself
    own = _worklist(api, limit="1").body["next_cursor"]
    assert own is not None
    # the same cursor on a computed date (not the clinic's today) is bound alike
    assert _worklist(api, limit="1", cursor=own).status == 200
