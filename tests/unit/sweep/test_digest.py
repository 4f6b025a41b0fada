"""Digest messages: DESIGN 2.6 JSON, e-mail grouped by severity, parts under SNS's 256 KB."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from lemtrada.notify.digest import SNS_MAX_BYTES, DigestMessage, build_digest, parse_document, severity_of
from lemtrada.notify.publisher import PublishError

from tests.support.memory import InMemoryDigestPublisher

DAY = date(2026, 3, 2)


def _items(n: int) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for i in range(n):
        match i % 3:
            case 0:
                items.append(
                    {
                        "patient_id": f"p-{i:06d}",
                        "kind": "occurrence",
                        "code": "cbc",
                        "k": i % 48 + 1,
                        "state": ["due", "overdue", "missed"][i % 9 // 3],
                        "due_date": "2026-02-24",
                    }
                )
            case 1:
                items.append(
                    {"patient_id": f"p-{i:06d}", "kind": "milestone", "code": "course_2_due", "date": "2026-03-02"}
                )
            case _:
                items.append(
                    {
                        "patient_id": f"p-{i:06d}",
                        "kind": "deviation",
                        "code": "dose_not_12mg",
                        "date": "2026-03-01",
                        "severity": "major",
                    }
                )
    return items


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
    assert messages[0].attributes() == {
        "clinic_id": {"DataType": "String", "StringValue": "c1"},
        "date": {"DataType": "String", "StringValue": "2026-03-02"},
        "kind": {"DataType": "String", "StringValue": "digest"},
    }


def test_no_items_no_message() -> None:
    assert build_digest("c1", DAY, []) == []


def test_email_groups_by_severity_most_urgent_first() -> None:
    text = build_digest("c1", DAY, _items(9))[0].email_text()
    assert text.index("CRITICAL") < text.index("MAJOR") < text.index("MINOR") < text.index("FOR INFORMATION")
    assert "p-000000: cbc #1 is due" in text


def test_severity_of_items() -> None:
    assert severity_of({"kind": "occurrence", "state": "missed"}) == "critical"
    assert severity_of({"kind": "occurrence", "state": "overdue"}) == "major"
    assert severity_of({"kind": "occurrence", "state": "due"}) == "minor"
    assert severity_of({"kind": "deviation", "severity": "critical"}) == "critical"
    assert severity_of({"kind": "milestone"}) == "info"
    assert severity_of({"kind": "finding", "severity": "critical"}) == "critical"
    assert severity_of({"kind": "finding", "severity": "major"}) == "major"


def test_a_critical_finding_heads_the_email() -> None:
    """Platelets at 15 come before every other critical line, whichever patient ids sort first."""
    finding: dict[str, Any] = {
        "patient_id": "p-zzz",
        "kind": "finding",
        "code": "platelets_below_100",
        "date": "2026-03-01",
        "severity": "critical",
        "finding_id": "r1:platelets_below_100",
    }
    items: list[dict[str, Any]] = [*_items(9), finding, {**finding, "severity": "major", "code": "tsh_out_of_range"}]
    text = build_digest("c1", DAY, items)[0].email_text()
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines[0] == "- patient p-zzz: finding platelets_below_100 (critical) on result of 2026-03-01"
    major = text[text.index("MAJOR") :]
    assert major.splitlines()[1].startswith("- patient p-zzz: finding tsh_out_of_range (major)")


@pytest.mark.parametrize("count", [1500, 6000])
def test_large_digests_split_in_parts_each_under_the_sns_limit(count: int) -> None:
    items = _items(count)
    messages = build_digest("clinic-with-a-long-identifier", DAY, items)
    assert len(messages) > 1
    assert all(m.size_bytes() < SNS_MAX_BYTES for m in messages)
    assert all(len(m.body().encode()) + 200 < SNS_MAX_BYTES for m in messages)
    assert [m.part for m in messages] == list(range(1, len(messages) + 1))
    assert {m.parts for m in messages} == {len(messages)}
    sent = [item for m in messages for item in parse_document(m.body())["items"]]
    assert sorted(json.dumps(i, sort_keys=True) for i in sent) == sorted(json.dumps(i, sort_keys=True) for i in items)
    # Parts are filled: all but the last use most of the room.
    assert all(m.size_bytes() > SNS_MAX_BYTES * 0.9 for m in messages[:-1])


def test_unicode_and_escaping_are_measured() -> None:
    items = [
        {"patient_id": f'p"é\\{i}', "kind": "milestone", "code": "course_2_due", "date": "2026-03-02"}
        for i in range(4000)
    ]
    messages = build_digest("c1", DAY, items)
    assert all(m.size_bytes() < SNS_MAX_BYTES for m in messages)


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
