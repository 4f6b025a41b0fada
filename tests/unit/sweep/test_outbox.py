"""The in-memory outbox: once-only keys, retract of unsent entries, pending per clinic by date."""

from __future__ import annotations

from datetime import date

from lemtrada.storage.ports import QueuedNotice

from tests.support.memory import InMemoryOutbox

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def _n(key: str) -> QueuedNotice:
    return QueuedNotice(key, {"patient_id": "p1", "kind": "milestone", "code": key, "date": "2026-03-01"})


def test_a_key_is_queued_once_for_all_dates() -> None:
    outbox = InMemoryOutbox()
    assert outbox.enqueue("c1", D1, "p1", [_n("a"), _n("b")]) == ["a", "b"]
    assert outbox.enqueue("c1", D2, "p1", [_n("a"), _n("c")]) == ["c"]
    assert [(e.date, e.key) for e in outbox.pending("c1")] == [(D1, "a"), (D1, "b"), (D2, "c")]


def test_sent_keys_are_never_queued_again() -> None:
    outbox = InMemoryOutbox()
    outbox.enqueue("c1", D1, "p1", [_n("a")])
    outbox.mark_sent(outbox.pending("c1"), "m1")
    assert outbox.pending("c1") == []
    assert outbox.enqueue("c1", D2, "p1", [_n("a")]) == []


def test_retract_withdraws_only_unsent_entries() -> None:
    outbox = InMemoryOutbox()
    outbox.enqueue("c1", D1, "p1", [_n("a"), _n("b")])
    outbox.mark_sent([e for e in outbox.pending("c1") if e.key == "a"], "m1")
    outbox.retract("c1", D1, "p1", ["a", "b"])
    assert outbox.pending("c1") == []
    assert outbox.enqueue("c1", D1, "p1", [_n("a"), _n("b")]) == ["b"]


def test_clinics_are_separate() -> None:
    outbox = InMemoryOutbox()
    outbox.enqueue("c1", D1, "p1", [_n("a")])
    assert outbox.pending("c2") == []
    assert outbox.enqueue("c2", D1, "p1", [_n("a")]) == ["a"]
