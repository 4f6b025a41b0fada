"""The publish function reads WORKLIST_URL from its environment (template parameter WorklistUrl) and its digest
e-mail names the clinic's worklist; without it, no address."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from lemtrada import bootstrap
from lemtrada.storage.ports import QueuedNotice

from tests.functional.sweep.conftest import SweepAws, load_function
from tests.support.memory import InMemoryDigestPublisher, InMemoryOutbox

DAY = date(2026, 11, 24)


def _publish(sweep_aws: SweepAws, lambda_context: Any, patients: int) -> InMemoryDigestPublisher:
    outbox, publisher = InMemoryOutbox(), InMemoryDigestPublisher()
    for index in range(patients):
        pid = f"{index:032x}"
        item = {"patient_id": pid, "kind": "occurrence", "code": "cbc", "k": 2, "state": "overdue"}
        outbox.enqueue(
            "kiritimati-ms", DAY, pid, [QueuedNotice(f"{pid}#cbc#2#overdue", item | {"due_date": "2026-11-01"})]
        )
    bootstrap.use(repository=sweep_aws.repo, outbox=outbox, publisher=publisher)
    publish_fn = load_function("sweep_publish")
    result = publish_fn.handler({}, lambda_context)
    assert [(d["clinic_id"], d["parts"]) for d in result["digests"]] == [("kiritimati-ms", 1)]
    return publisher


def test_the_worklist_address_from_the_environment_ends_a_long_digest(
    sweep_aws: SweepAws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKLIST_URL", "https://clinicians.example/clinics/{clinic_id}/worklist")
    (sent,) = _publish(sweep_aws, lambda_context, 320).sent
    lines = sent.email.splitlines()
    assert sum(line.startswith("- patient ") for line in lines) == 300
    at = lines.index("... and 20 more patients: see the worklist")
    assert lines[at + 1] == "https://clinicians.example/clinics/kiritimati-ms/worklist"
    assert len(sent.digest["items"]) == 320


def test_without_the_parameter_the_email_names_no_address(sweep_aws: SweepAws, lambda_context: Any) -> None:
    (sent,) = _publish(sweep_aws, lambda_context, 2).sent
    assert "http" not in sent.email
    assert sent.email.splitlines()[1] == "Items: critical 0, major 2, minor 0, info 0; patients 2."
