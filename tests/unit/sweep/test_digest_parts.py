"""The publish step with a digest past 256 KiB: parts keyed by their outbox entries, each marked sent once SNS
accepted it, so a failure between parts re-sends nothing already accepted and a re-run sends nothing at all."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from lemtrada.notify.digest import SNS_MAX_BYTES
from lemtrada.notify.publisher import PublishError
from lemtrada.services.sweep import SweepError, SweepService
from lemtrada.storage.ports import QueuedNotice

from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox, InMemoryPatientRepository
from tests.unit.sweep.fakes import WindowRules, add_clinic

D = date(2026, 3, 2)
URL = "https://clinicians.example/clinics/{clinic_id}/worklist"


def _item(pid: str, code: str) -> dict[str, Any]:
    return {"patient_id": pid, "kind": "occurrence", "code": code, "k": 3, "state": "due", "due_date": "2026-03-01"}


def _world(patients: int) -> tuple[SweepService, InMemoryOutbox, InMemoryDigestPublisher]:
    repo = InMemoryPatientRepository(due_shards=2)
    add_clinic(repo, "c1", "UTC")
    outbox, publisher = InMemoryOutbox(), InMemoryDigestPublisher()
    for index in range(patients):
        pid = f"{index:032x}"
        notices = [QueuedNotice(f"{pid}#{code}", _item(pid, code)) for code in ("cbc", "creatinine")]
        outbox.enqueue("c1", D, pid, notices)
    return SweepService(repo, outbox, publisher, WindowRules(), worklist_url=URL), outbox, publisher


def _sent_keys(publisher: InMemoryDigestPublisher) -> list[str]:
    return [f"{i['patient_id']}#{i['code']}" for sent in publisher.sent for i in sent.digest["items"]]


def test_an_ordinary_digest_is_one_message_naming_the_worklist() -> None:
    service, outbox, publisher = _world(400)
    report = service.publish()
    assert [(s.part, s.parts, s.items) for s in report.sent] == [(1, 1, 800)]
    (sent,) = publisher.sent
    assert sent.email.count("\n- patient ") == 300
    assert "... and 100 more patients: see the worklist\nhttps://clinicians.example/clinics/c1/worklist" in sent.email
    assert outbox.pending("c1") == []


def test_parts_past_256_kib_then_a_failure_between_parts_resends_nothing_accepted() -> None:
    service, outbox, publisher = _world(1500)  # 3,000 items: about 470 KB of JSON
    publisher_calls = 0
    real = publisher.publish

    def second_part_fails(message: Any) -> str:
        nonlocal publisher_calls
        publisher_calls += 1
        if publisher_calls == 2:
            raise PublishError("injected")
        return real(message)

    publisher.publish = second_part_fails  # type: ignore[method-assign]
    with pytest.raises(SweepError):
        service.publish()
    (first,) = publisher.sent
    assert first.digest["parts"] > 1
    first_keys = set(_sent_keys(publisher))
    assert not first_keys & {e.key for e in outbox.pending("c1")}  # part 1 is marked sent

    service.publish()  # the state machine's retry: only what is still pending
    keys = _sent_keys(publisher)
    assert len(keys) == len(set(keys)) == 3000  # every item exactly once
    assert all(len(s.digest["items"]) for s in publisher.sent)
    before = len(publisher.sent)
    assert service.publish().sent == []  # a re-run sends nothing new
    assert len(publisher.sent) == before


def test_each_part_stays_under_the_limit_and_one_email_lists_the_patients() -> None:
    service, _, publisher = _world(2000)
    sizes: list[int] = []
    real = publisher.publish

    def measured(message: Any) -> str:
        sizes.append(message.size_bytes())
        return real(message)

    publisher.publish = measured  # type: ignore[method-assign]
    report = service.publish()
    parts = report.sent[0].parts
    assert parts > 1
    assert [s.part for s in report.sent] == list(range(1, parts + 1))
    lists = [s for s in publisher.sent if "\n- patient " in s.email]
    assert len(lists) == 1
    assert lists[0].digest["part"] == 1
    assert lists[0].email.count("\n- patient ") == 300
    assert "patients 2000." in lists[0].email
    assert len(sizes) == parts
    assert all(size < SNS_MAX_BYTES for size in sizes)
