"""The outbox's new shape on the in-memory twins: notices queued only with their marks (one transaction), pages of
about 1 KB per (clinic, date, shard, run), a page retired part by part."""

from __future__ import annotations

from datetime import date

import pytest
from lemtrada.services.sweep import PAGE_BYTES, OutboxPages, chunk_size
from lemtrada.storage import keys
from lemtrada.storage.ports import AlreadyExists, OutboxAppend, OutboxPage, QueuedNotice, VersionConflict

from tests.support.memory import InMemoryOutbox, InMemoryPatientRepository
from tests.unit.sweep.fakes import add_clinic, add_patient

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)
PAGE = OutboxPage("c1", D1, 3, "run1", 0)


def _n(key: str, pid: str = "p1") -> QueuedNotice:
    return QueuedNotice(key, {"patient_id": pid, "kind": "milestone", "code": key, "date": "2026-03-01"})


def _world() -> tuple[InMemoryPatientRepository, InMemoryOutbox]:
    repo = InMemoryPatientRepository(due_shards=4)
    add_clinic(repo, "c1", "UTC")
    add_patient(repo, "p1", "c1", D1)
    return repo, InMemoryOutbox(repo)


def test_notices_are_queued_with_their_marks_and_a_lost_race_queues_nothing() -> None:
    repo, outbox = _world()
    append = OutboxAppend(PAGE, (_n("a"), _n("b")))
    with pytest.raises(VersionConflict):
        repo.record_sweep("p1", D1, ["a", "b"], 7, None, outbox=append)
    assert outbox.pending("c1") == []
    assert repo.record_sweep("p1", D1, ["a", "b"], 1, D2, outbox=append) == 2
    assert [(e.key, e.patient_id, e.page) for e in outbox.pending("c1")] == [
        ("a", "p1", keys.outbox_page_sk(D1, 3, "run1", 0)),
        ("b", "p1", keys.outbox_page_sk(D1, 3, "run1", 0)),
    ]
    with pytest.raises(AlreadyExists):  # a marked key is never queued again
        repo.record_sweep("p1", D2, ["a"], 2, None, outbox=OutboxAppend(PAGE, (_n("a"),)))
    assert len(outbox.pending("c1")) == 2


def test_the_chunk_must_hold_exactly_the_marked_keys() -> None:
    repo, _ = _world()
    with pytest.raises(ValueError, match="same notice keys"):
        repo.record_sweep("p1", D1, ["a", "b"], 1, None, outbox=OutboxAppend(PAGE, (_n("a"),)))


def test_a_page_is_retired_part_by_part() -> None:
    repo, outbox = _world()
    repo.record_sweep("p1", D1, ["a", "b", "c"], 1, None, outbox=OutboxAppend(PAGE, (_n("a"), _n("b"), _n("c"))))
    first = [e for e in outbox.pending("c1") if e.key in {"a", "b"}]
    outbox.mark_sent(first, "m1")
    assert [e.key for e in outbox.pending("c1")] == ["c"]
    outbox.mark_sent(first, "m1")  # a repeat changes nothing
    outbox.mark_sent(outbox.pending("c1"), "m2")
    assert outbox.pending("c1") == []
    assert outbox.pages == {}


def test_clinics_are_separate() -> None:
    outbox = InMemoryOutbox()
    outbox.enqueue("c1", D1, "p1", [_n("a")])
    assert outbox.pending("c2") == []
    assert [e.clinic_id for e in outbox.pending("c1")] == ["c1"]


def test_pages_fill_to_about_a_kilobyte_per_clinic_and_date() -> None:
    pages = OutboxPages(shard=5, run="r")
    chunk = [_n(f"key-{n}") for n in range(3)]
    size = chunk_size(chunk)
    numbers = []
    for _ in range(10):
        page = pages.page_for("c1", D1, size)
        numbers.append(page.number)
        pages.committed(page, size)
    per_page = PAGE_BYTES // size
    assert numbers == [n // per_page for n in range(10)]
    assert pages.page_for("c2", D1, size).number == 0  # another clinic: its own pages
    assert pages.page_for("c1", D2, size).number == 0  # another date: its own pages
    uncommitted = pages.page_for("c2", D1, 10 * PAGE_BYTES)  # a big chunk alone on a page
    assert uncommitted.number == 0
    pages.committed(uncommitted, 10 * PAGE_BYTES)
    assert pages.page_for("c2", D1, 1).number == 1


def test_each_run_has_its_own_pages() -> None:
    assert OutboxPages(0).run != OutboxPages(0).run
