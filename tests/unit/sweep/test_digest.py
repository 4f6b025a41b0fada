"""Digest messages (DESIGN 2.6 and 8): the JSON keeps every item, the e-mail is a line per patient (most urgent
first, at most 300, then a pointer to the worklist), one SNS message unless it would pass 256 KiB."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from lemtrada.notify.digest import (
    MAX_ITEMS_PER_LINE,
    MAX_PATIENT_LINES,
    SAFETY_MARGIN_BYTES,
    SNS_MAX_BYTES,
    DigestMessage,
    build_digest,
    by_patient,
    parse_document,
    severity_of,
)
from lemtrada.notify.publisher import PublishError

from tests.support.memory import InMemoryDigestPublisher

DAY = date(2026, 3, 2)
URL = "https://clinicians.example/clinics/{clinic_id}/worklist"


def _pid(i: int) -> str:
    """Shaped like the service's ids (32 hex digits), so sizes are the real ones."""
    return f"{i:032x}"


def _occ(pid: str, code: str, k: int, state: str, due: str = "2026-02-24") -> dict[str, Any]:
    return {"patient_id": pid, "kind": "occurrence", "code": code, "k": k, "state": state, "due_date": due}


def _finding(
    pid: str, code: str = "platelets_below_100", severity: str = "critical", day: str = "2026-03-01"
) -> dict[str, Any]:
    return {
        "patient_id": pid,
        "kind": "finding",
        "code": code,
        "date": day,
        "severity": severity,
        "finding_id": f"r{pid[-6:]}:{code}",
    }


def _items(n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i in range(n):
        pid = f"p-{i:06d}"
        match i % 3:
            case 0:
                items.append(_occ(pid, "cbc", i % 48 + 1, ["due", "overdue", "missed"][i % 9 // 3]))
            case 1:
                items.append({"patient_id": pid, "kind": "milestone", "code": "course_2_due", "date": "2026-03-02"})
            case _:
                items.append(
                    {"patient_id": pid, "kind": "deviation", "code": "dose_not_12mg", "date": "2026-03-01"}
                    | {"severity": "major"}
                )
    return items


def heavy_night(enrolled: int = 2000, with_items: int = 340, seed: int = 11) -> list[dict[str, Any]]:
    """A heavy night of a clinic of ``enrolled`` patients: ``with_items`` of them owe something, in the mix the
    engine gives on synthetic histories after a three-night gap (bench.digest_size measures that one: 997 items,
    283 patients): monthly tests opening together (cbc, creatinine, urinalysis), some overdue or missed, a quarterly
    tsh, milestones, now and then a finding or a deviation. About 3.4 items per patient."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for index in sorted(rng.sample(range(enrolled), with_items)):
        pid = _pid(index)
        k = rng.randint(1, 48)
        due = (DAY - timedelta(days=rng.randint(0, 40))).isoformat()
        state = rng.choices(["due", "overdue", "missed"], weights=[75, 15, 10])[0]
        items.extend(_occ(pid, code, k, state, due) for code in ("cbc", "creatinine", "urinalysis"))
        roll = rng.random()
        if roll < 0.15:
            items.append(_occ(pid, "tsh", (k + 2) // 3, "due", due))
        elif roll < 0.20:
            items.append({"patient_id": pid, "kind": "milestone", "code": "course_2_due", "date": DAY.isoformat()})
        elif roll < 0.23:
            items.append(_finding(pid, day=(DAY - timedelta(days=1)).isoformat()))
        elif roll < 0.25:
            items.append(
                {"patient_id": pid, "kind": "deviation", "code": "dose_not_12mg", "date": due, "severity": "major"}
            )
    return items


def _patient_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- patient ")]


def test_one_small_digest_is_one_message_with_the_design_fields() -> None:
    messages = build_digest("c1", DAY, _items(5))
    assert len(messages) == 1
    document = parse_document(messages[0].body())
    assert document["clinic_id"] == "c1"
    assert document["date"] == "2026-03-02"
    assert (document["part"], document["parts"]) == (1, 1)
    assert len(document["items"]) == 5
    envelope = json.loads(messages[0].body())
    assert set(envelope) == {"default", "email"}
    assert envelope["email"] == messages[0].email_text()
    assert messages[0].attributes() == {
        "clinic_id": {"DataType": "String", "StringValue": "c1"},
        "date": {"DataType": "String", "StringValue": "2026-03-02"},
        "kind": {"DataType": "String", "StringValue": "digest"},
    }


def test_no_items_no_message() -> None:
    assert build_digest("c1", DAY, []) == []


def test_severity_of_items() -> None:
    assert severity_of({"kind": "occurrence", "state": "missed"}) == "critical"
    assert severity_of({"kind": "occurrence", "state": "overdue"}) == "major"
    assert severity_of({"kind": "occurrence", "state": "due"}) == "minor"
    assert severity_of({"kind": "deviation", "severity": "critical"}) == "critical"
    assert severity_of({"kind": "milestone"}) == "info"
    assert severity_of({"kind": "finding", "severity": "critical"}) == "critical"
    assert severity_of({"kind": "finding", "severity": "major"}) == "major"


def test_a_patient_line_names_its_items_as_design_8_shows() -> None:
    items = [
        _occ("p1", "creatinine", 47, "overdue"),
        _occ("p1", "cbc", 47, "overdue"),
        _finding("p1", day="2026-11-30"),
    ]
    (line,) = _patient_lines(build_digest("c1", DAY, items)[0].email_text())
    assert line == "- patient p1: CRITICAL platelets_below_100 (2026-11-30); overdue cbc #47, creatinine #47"


def test_every_kind_of_item_reads_on_its_patient_line() -> None:
    items = [
        {"patient_id": "p1", "kind": "milestone", "code": "course_2_due", "date": "2026-03-02"},
        _occ("p1", "tsh", 4, "due"),
        {"patient_id": "p1", "kind": "deviation", "code": "dose_not_12mg", "date": "2026-03-01", "severity": "major"},
        _occ("p1", "cbc", 12, "missed"),
        _finding("p1", "tsh_out_of_range", "major"),
    ]
    (line,) = _patient_lines(build_digest("c1", DAY, items)[0].email_text())
    assert line == (
        "- patient p1: missed cbc #12; MAJOR tsh_out_of_range (2026-03-01); MAJOR deviation dose_not_12mg"
        " (infusion 2026-03-01); due tsh #4; reached course_2_due (2026-03-02)"
    )


def test_patients_by_their_most_severe_item_then_by_their_oldest_item() -> None:
    items = [
        _occ("a-due", "cbc", 3, "due", "2026-01-01"),
        _occ("b-overdue-new", "cbc", 3, "overdue", "2026-02-20"),
        _occ("c-overdue-old", "cbc", 3, "overdue", "2026-02-01"),
        _occ("c-overdue-old", "tsh", 1, "due", "2026-03-01"),
        _finding("d-critical", day="2026-03-01"),
        _occ("e-missed-old", "cbc", 2, "missed", "2026-01-10"),
        {"patient_id": "f-info", "kind": "milestone", "code": "course_2_due", "date": "2025-12-01"},
    ]
    text = build_digest("c1", DAY, items)[0].email_text()
    order = [line.split(":")[0].removeprefix("- patient ") for line in _patient_lines(text)]
    assert order == ["e-missed-old", "d-critical", "c-overdue-old", "b-overdue-new", "a-due", "f-info"]
    # The JSON follows the same order, each patient's items together, most severe first.
    document = parse_document(build_digest("c1", DAY, items)[0].body())
    assert [i["patient_id"] for i in document["items"]][:3] == ["e-missed-old", "d-critical", "c-overdue-old"]
    assert [i["code"] for i in document["items"] if i["patient_id"] == "c-overdue-old"] == ["cbc", "tsh"]


def test_the_header_counts_items_by_severity_and_patients() -> None:
    items = [
        _finding("p1"),
        _occ("p1", "cbc", 1, "overdue"),
        _occ("p2", "cbc", 1, "overdue"),
        _occ("p2", "tsh", 1, "due"),
        {"patient_id": "p3", "kind": "milestone", "code": "course_2_due", "date": "2026-03-02"},
    ]
    lines = build_digest("c1", DAY, items)[0].email_text().splitlines()
    assert lines[0] == "Lemtrada regimen digest for clinic c1, 2026-03-02"
    assert lines[1] == "Items: critical 1, major 2, minor 1, info 1; patients 3."


def test_at_most_300_patient_lines_then_the_pointer_and_the_clinic_worklist() -> None:
    items = [_occ(_pid(i), "cbc", 1, "due") for i in range(450)]
    (message,) = build_digest("clinic/7", DAY, items, worklist_url=URL)
    lines = message.email_text().splitlines()
    assert len(_patient_lines(message.email_text())) == MAX_PATIENT_LINES == 300
    pointer = lines.index("... and 150 more patients: see the worklist")
    assert lines[pointer - 1].startswith("- patient ")
    assert lines[pointer + 1] == "https://clinicians.example/clinics/clinic%2F7/worklist"
    assert len(parse_document(message.body())["items"]) == 450  # the JSON keeps every item


def test_without_a_worklist_url_no_address_line() -> None:
    many = [_occ(_pid(i), "cbc", 1, "due") for i in range(301)]
    text = build_digest("c1", DAY, many)[0].email_text()
    assert "... and 1 more patients: see the worklist" in text
    assert "http" not in text
    few = build_digest("c1", DAY, many[:3], worklist_url=URL)[0].email_text()
    assert "see the worklist" not in few
    assert "Worklist: https://clinicians.example/clinics/c1/worklist" in few.splitlines()


def test_a_patient_with_many_items_keeps_a_readable_line_and_every_item_in_the_json() -> None:
    items = [_occ("p1", "cbc", k, "missed") for k in range(1, 26)]
    (message,) = build_digest("c1", DAY, items)
    (line,) = _patient_lines(message.email_text())
    assert line.startswith("- patient p1: missed cbc #1, cbc #2,")
    assert line.endswith(f"cbc #{MAX_ITEMS_PER_LINE}; and 15 more item(s)")
    assert len(parse_document(message.body())["items"]) == 25


def test_a_2000_patient_clinic_heavy_night_is_one_message_with_300_lines_and_the_pointer() -> None:
    """The benchmark figure of docs/PERFORMANCE.md (bench.digest_size gives the engine-made nights)."""
    items = heavy_night()
    patients = len({i["patient_id"] for i in items})
    messages = build_digest("c-0123456789ab", DAY, items, worklist_url=URL)
    assert len(messages) == 1
    (message,) = messages
    assert message.size_bytes() < SNS_MAX_BYTES
    email = message.email_text()
    assert len(_patient_lines(email)) == 300
    assert f"... and {patients - 300} more patients: see the worklist" in email
    assert "https://clinicians.example/clinics/c-0123456789ab/worklist" in email.splitlines()
    sent = parse_document(message.body())["items"]
    assert sorted(json.dumps(i, sort_keys=True) for i in sent) == sorted(json.dumps(i, sort_keys=True) for i in items)
    print(  # the figure docs/PERFORMANCE.md quotes (pytest -s)
        f"\n2,000-patient heavy night: {len(items)} items, {patients} patients, {len(messages)} message,"
        f" {message.size_bytes():,} bytes, e-mail {len(email.encode()):,} bytes"
    )


def _first_split(build: Any) -> int:
    """The smallest item count that needs two messages (bisection; the count grows the size monotonically)."""
    low, high = 1, 4000
    while low < high:
        middle = (low + high) // 2
        if len(build(middle)) > 1:
            high = middle
        else:
            low = middle + 1
    return low


def test_parts_only_when_one_message_would_pass_256_kib() -> None:
    def build(n: int) -> list[DigestMessage]:
        return build_digest("c1", DAY, [_occ(_pid(i), "cbc", 1, "overdue") for i in range(n)], worklist_url=URL)

    split = _first_split(build)
    (largest,) = build(split - 1)
    # The largest single message fills the room SNS allows, less the margin and one item.
    assert SNS_MAX_BYTES - SAFETY_MARGIN_BYTES - 200 < largest.size_bytes() <= SNS_MAX_BYTES - SAFETY_MARGIN_BYTES
    assert [m.parts for m in build(split)] == [2, 2]


@pytest.mark.parametrize("count", [2500, 8000])
def test_large_digests_split_in_parts_each_under_the_sns_limit(count: int) -> None:
    items = [_occ(_pid(i // 2), ["cbc", "creatinine"][i % 2], 3, "due") for i in range(count)]
    messages = build_digest("clinic-with-a-long-identifier", DAY, items, worklist_url=URL)
    assert len(messages) > 1
    assert all(m.size_bytes() < SNS_MAX_BYTES for m in messages)
    assert all(len(m.body().encode()) + 200 < SNS_MAX_BYTES for m in messages)
    assert [m.part for m in messages] == list(range(1, len(messages) + 1))
    assert {m.parts for m in messages} == {len(messages)}
    sent = [item for m in messages for item in parse_document(m.body())["items"]]
    assert sorted(json.dumps(i, sort_keys=True) for i in sent) == sorted(json.dumps(i, sort_keys=True) for i in items)
    # Parts are filled: all but the last use most of the room.
    assert all(m.size_bytes() > SNS_MAX_BYTES * 0.95 for m in messages[:-1])
    # One e-mail for clinicians: part 1 lists the patients of every part; the others say where the list is.
    first = messages[0].email_text()
    assert first.startswith(
        f"Lemtrada regimen digest for clinic clinic-with-a-long-identifier, 2026-03-02 (part 1 of {len(messages)})"
    )
    assert len(_patient_lines(first)) == min(300, count // 2)
    assert f"patients {count // 2}." in first
    for message in messages[1:]:
        assert _patient_lines(message.email_text()) == []
        assert "the list for clinicians is in part 1" in message.email_text()


def test_unicode_and_escaping_are_measured() -> None:
    items = [
        {"patient_id": f'p"é\\{i}', "kind": "milestone", "code": "course_2_due", "date": "2026-03-02"}
        for i in range(4000)
    ]
    messages = build_digest("c1", DAY, items)
    assert len(messages) > 1
    assert all(m.size_bytes() < SNS_MAX_BYTES for m in messages)


def test_messages_hold_the_very_item_objects_given() -> None:
    """The sweep maps each part back to its outbox entries by identity."""
    items = [_occ(_pid(i), "cbc", 1, "due") for i in range(3000)]
    given = {id(item) for item in items}
    held = [id(item) for m in build_digest("c1", DAY, items) for item in m.items]
    assert sorted(held) == sorted(given)


def test_by_patient_groups_each_patient_once() -> None:
    entries = by_patient(heavy_night(200, 50))
    assert len({e.patient_id for e in entries}) == len(entries) == 50


def test_subject_is_short_ascii() -> None:
    message = DigestMessage("ç" * 200, DAY, 2, 3, ())
    assert len(message.subject) <= 100
    assert message.subject.isascii()
    assert message.subject.endswith("(2/3)")


def test_in_memory_publisher_keeps_messages_and_injects_failures() -> None:
    publisher = InMemoryDigestPublisher(fail_next=1)
    message = build_digest("c1", DAY, _items(2))[0]
    with pytest.raises(PublishError):
        publisher.publish(message)
    assert publisher.publish(message) == "msg-1"
    assert publisher.sent[0].attributes == {"clinic_id": "c1", "date": "2026-03-02", "kind": "digest"}
    assert publisher.sent[0].digest["items"][0]["patient_id"].startswith("p-")
