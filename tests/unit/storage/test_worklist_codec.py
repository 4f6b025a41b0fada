"""The worklist projection as the profile stores it: packed items round-trip, index keys only while listed."""

from __future__ import annotations

from datetime import date

import pytest
from lemtrada.regimen.records import PatientStatus
from lemtrada.regimen.worklist import PatientWorklist, WorklistItem
from lemtrada.storage import codec, keys
from lemtrada.storage.model import WorklistProjection
from lemtrada.storage.ports import WorklistUpdate
from lemtrada.storage.wire import wire

DAY = date(2026, 11, 24)
ITEMS = (
    WorklistItem("occurrence", "cbc", "critical", "cbc:3", 3, "missed", date(2026, 10, 1)),
    WorklistItem("occurrence", "thyroid", "major", "thyroid:1", 1, "overdue", date(2026, 11, 1)),
    WorklistItem("occurrence", "liver", "minor", "liver:4", 4, "due", date(2026, 11, 30)),
    WorklistItem("finding", "platelets_below_100", "critical", "abc123:platelets_below_100", date=date(2026, 11, 2)),
    WorklistItem("deviation", "dose_not_12mg", "major", "2026-11-03:dose_not_12mg", date=date(2026, 11, 3)),
    WorklistItem("milestone", "course_2_due", "info", "course_2_due:2026-11-10", date=date(2026, 11, 10)),
)


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i.kind + "-" + i.severity)
def test_each_kind_packs_short_and_back(item: WorklistItem) -> None:
    line = codec.pack_worklist_item(item)
    assert len(line) <= len(item.ref) + 40
    assert codec.unpack_worklist_item(line) == item


def test_the_attributes_carry_the_index_keys_only_while_listed() -> None:
    listed = PatientWorklist(DAY, PatientStatus.MONITORING, ITEMS, date(2026, 11, 30))
    attributes = codec.worklist_attributes(WorklistUpdate("p1", "c1", listed, None))
    assert attributes[WorklistProjection.clinic] == "CLINIC#c1"
    assert attributes[WorklistProjection.rank] == "0#2026-10-01#p1"
    raw = {"pk": {"S": keys.patient_pk("p1")}, "xr": {"S": "MRN-7"}}
    raw.update({name: wire(value) for name, value in attributes.items() if value is not None})
    row = codec.worklist_from_item(raw)
    assert (row.patient_id, row.external_ref, row.worklist) == ("p1", "MRN-7", listed)
    empty = PatientWorklist(DAY, PatientStatus.COMPLETED, (), None)
    gone = codec.worklist_attributes(WorklistUpdate("p1", "c1", empty, listed))
    assert gone[WorklistProjection.clinic] is None  # REMOVEd: the patient leaves the sparse index
    assert gone[WorklistProjection.rank] is None
    assert gone[WorklistProjection.items] is None


def test_the_count_changes_are_the_difference() -> None:
    before = PatientWorklist(DAY, PatientStatus.MONITORING, ITEMS[:2], None)
    after = PatientWorklist(DAY, PatientStatus.MONITORING, ITEMS[1:3], None)
    assert WorklistUpdate("p1", "c1", after, before).count_changes() == {"critical": -1, "minor": 1}
    assert WorklistUpdate("p1", "c1", after, None).count_changes() == {"major": 1, "minor": 1, "patients": 1}
    empty = PatientWorklist(DAY, PatientStatus.MONITORING, (), None)
    assert WorklistUpdate("p1", "c1", empty, before).count_changes() == {"critical": -1, "major": -1, "patients": -1}


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!",
        keys.encode_cursor("c1", "p1"),
        keys.encode_worklist_cursor("c1", "x#2026-01-01#p"),
        keys.encode_worklist_cursor("c1", "0#2026-13-01#p"),
        keys.encode_worklist_cursor("c1", "0#2026-01-01#"),
    ],
)
def test_malformed_worklist_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        keys.decode_worklist_cursor("c1", cursor)


def test_a_cursor_is_bound_to_its_clinic() -> None:
    cursor = keys.encode_worklist_cursor("c1", "1#2026-01-01#p9")
    assert keys.decode_worklist_cursor("c1", cursor) == ("1#2026-01-01#p9", "p9")
    with pytest.raises(ValueError, match="another clinic"):
        keys.decode_worklist_cursor("c2", cursor)
