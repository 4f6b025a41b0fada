"""A clinic's daily digest as SNS messages: the JSON of DESIGN 2.6 plus an e-mail a clinician can read (DESIGN 8).

An item is the JSON-ready mapping a notice gives (`Notice.to_digest_item()`): opaque patient id and codes only,
never names, birth dates or free text. The e-mail is one line per patient, most urgent first, at most
`MAX_PATIENT_LINES` of them, then a pointer to the worklist; the `default` JSON keeps every item. A digest is one
SNS message unless that message would pass SNS's 256 KiB; only then are the JSON items split in parts (the e-mail
for clinicians rides in part 1, later parts carry a one-line note). Sizes are measured on the real serialised
message (envelope, escaping, subject and attributes included).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

# SNS rejects a message whose body plus attributes passes 256 KiB. Everything SNS counts is measured (the subject
# too, to be safe); the margin covers only what SNS might add on its side.
SNS_MAX_BYTES = 256 * 1024
SAFETY_MARGIN_BYTES = 512
SUBJECT_MAX = 100  # SNS e-mail subjects: at most 100 printable ASCII characters
MAX_PATIENT_LINES = 300  # DESIGN 8: then "... and N more patients: see the worklist"
MAX_ITEMS_PER_LINE = 10  # a patient line stays readable (and the e-mail bounded); the JSON keeps them all

DigestItem = Mapping[str, Any]

SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "info")
_RANK = {name: index for index, name in enumerate(SEVERITIES)}
# A deviation or a safety finding carries its own severity; a monitoring occurrence is graded by how late it is
# (as the worklist grades it); a milestone reached is information.
_OCCURRENCE_SEVERITY = {"missed": "critical", "overdue": "major", "due": "minor"}
_KIND_ORDER = {"finding": 0, "deviation": 1, "occurrence": 2, "milestone": 3}


def severity_of(item: DigestItem) -> str:
    """The item's severity: critical, major, minor or info."""
    kind = item.get("kind")
    if kind in ("deviation", "finding"):
        severity = str(item.get("severity") or "major")
        return severity if severity in _RANK else "major"
    if kind == "occurrence":
        return _OCCURRENCE_SEVERITY.get(str(item.get("state")), "minor")
    return "info"


def _item_date(item: DigestItem) -> str:
    return str(item.get("date") or item.get("due_date") or "9999-12-31")


def _item_key(item: DigestItem) -> tuple[int, int, str, str, int]:
    """Within a patient: most severe first, findings before deviations before occurrences, oldest first."""
    k = item.get("k")
    return (
        _RANK[severity_of(item)],
        _KIND_ORDER.get(str(item.get("kind")), 9),
        _item_date(item),
        str(item.get("code", "")),
        k if isinstance(k, int) else 0,
    )


@dataclass(frozen=True, slots=True)
class PatientEntry:
    """One patient's items of the day, most urgent first; ``priority`` is its most severe item."""

    patient_id: str
    items: tuple[DigestItem, ...]

    @property
    def priority(self) -> str:
        return severity_of(self.items[0])

    @property
    def oldest(self) -> str:
        return min(_item_date(item) for item in self.items)


def by_patient(items: Iterable[DigestItem]) -> list[PatientEntry]:
    """Patients by their most severe item (critical first), then by their oldest item, then by id (stable)."""
    grouped: dict[str, list[DigestItem]] = {}
    for item in items:
        grouped.setdefault(str(item.get("patient_id", "")), []).append(item)
    entries = [PatientEntry(pid, tuple(sorted(group, key=_item_key))) for pid, group in grouped.items()]
    entries.sort(key=lambda e: (_RANK[e.priority], e.oldest, e.patient_id))
    return entries


def _segments(items: Sequence[DigestItem]) -> list[str]:
    """The parts of a patient line, in the items' order: `CRITICAL platelets_below_100 (2026-11-30)`, occurrences
    of one state together (`overdue cbc #47, creatinine #47`), `reached course_2_due (2026-03-02)`."""
    segments: list[str] = []
    states: dict[str, int] = {}  # occurrence state -> index of its segment
    named: dict[int, list[str]] = {}
    for item in items:
        code = item.get("code")
        match item.get("kind"):
            case "occurrence":
                state = str(item.get("state"))
                if state not in states:
                    states[state] = len(segments)
                    segments.append(state)
                    named[states[state]] = []
                named[states[state]].append(f"{code} #{item.get('k')}")
            case "finding":
                segments.append(f"{severity_of(item).upper()} {code} ({item.get('date')})")
            case "deviation":
                segments.append(f"{severity_of(item).upper()} deviation {code} (infusion {item.get('date')})")
            case "milestone":
                segments.append(f"reached {code} ({item.get('date')})")
            case _:
                segments.append(str(code))
    for index, names in named.items():
        segments[index] = f"{segments[index]} {', '.join(names)}"
    return segments


def patient_line(entry: PatientEntry) -> str:
    """One readable line per patient (codes and dates only: nothing identifying beyond the opaque patient id)."""
    shown = entry.items[:MAX_ITEMS_PER_LINE]
    text = f"- patient {entry.patient_id}: {'; '.join(_segments(shown))}"
    if len(entry.items) > len(shown):
        text += f"; and {len(entry.items) - len(shown)} more item(s)"
    return text


def counts_of(items: Iterable[DigestItem]) -> dict[str, int]:
    """Items per severity and patients: the header of the e-mail (and of the worklist, same names)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    patients: set[str] = set()
    for item in items:
        counts[severity_of(item)] += 1
        patients.add(str(item.get("patient_id", "")))
    return {**counts, "patients": len(patients)}


def worklist_address(template: str | None, clinic_id: str) -> str | None:
    """The clinic's worklist address from the `WorklistUrl` parameter (`{clinic_id}` is replaced); None: none."""
    if not template:
        return None
    return template.replace("{clinic_id}", quote(clinic_id, safe=""))


def _header(clinic_id: str, day: date, part: int, parts: int) -> str:
    header = f"Lemtrada regimen digest for clinic {clinic_id}, {day.isoformat()}"
    return header + (f" (part {part} of {parts})" if parts > 1 else "")


def email_text(
    clinic_id: str,
    day: date,
    items: Sequence[DigestItem],
    worklist_url: str | None = None,
    *,
    part: int = 1,
    parts: int = 1,
) -> str:
    """The e-mail: counts, then a line per patient (most urgent first, at most 300), then the worklist pointer."""
    counts = counts_of(items)
    entries = by_patient(items)
    lines = [
        _header(clinic_id, day, part, parts),
        "Items: " + ", ".join(f"{name} {counts[name]}" for name in SEVERITIES) + f"; patients {counts['patients']}.",
        "",
    ]
    lines.extend(patient_line(entry) for entry in entries[:MAX_PATIENT_LINES])
    more = len(entries) - MAX_PATIENT_LINES
    address = worklist_address(worklist_url, clinic_id)
    if more > 0:
        lines.append(f"... and {more} more patients: see the worklist")
        if address:
            lines.append(address)
    elif address:
        lines.extend(["", f"Worklist: {address}"])
    lines.extend(["", "Patients appear by their opaque id; open the clinic worklist for details."])
    return "\n".join(lines)


def _continuation_text(clinic_id: str, day: date, part: int, parts: int) -> str:
    return (
        f"{_header(clinic_id, day, part, parts)}\n"
        "More of this date's items, for systems reading the JSON; the list for clinicians is in part 1."
    )


@dataclass(frozen=True, slots=True)
class DigestMessage:
    """One SNS message: part `part` of `parts` of a clinic's digest for one local date."""

    clinic_id: str
    date: date
    part: int
    parts: int
    items: tuple[DigestItem, ...]
    email: str = ""

    @property
    def subject(self) -> str:
        suffix = f" ({self.part}/{self.parts})" if self.parts > 1 else ""
        text = f"Lemtrada digest {self.date.isoformat()} clinic {self.clinic_id}"
        text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
        return text[: SUBJECT_MAX - len(suffix)] + suffix

    def document(self) -> dict[str, Any]:
        """The `default` JSON of DESIGN 2.6."""
        return {
            "clinic_id": self.clinic_id,
            "date": self.date.isoformat(),
            "part": self.part,
            "parts": self.parts,
            "items": [dict(item) for item in self.items],
        }

    def email_text(self) -> str:
        return self.email

    def body(self) -> str:
        """The SNS Message for MessageStructure=json."""
        return json.dumps(
            {"default": json.dumps(self.document(), separators=(",", ":")), "email": self.email},
            separators=(",", ":"),
        )

    def attributes(self) -> dict[str, dict[str, str]]:
        """Message attributes the e-mail subscriptions filter on."""
        return {
            "clinic_id": {"DataType": "String", "StringValue": self.clinic_id},
            "date": {"DataType": "String", "StringValue": self.date.isoformat()},
            "kind": {"DataType": "String", "StringValue": "digest"},
        }

    def size_bytes(self) -> int:
        """What SNS counts against its limit: body and attributes (the subject is added to be safe)."""
        size = len(self.body().encode("utf-8")) + len(self.subject.encode("utf-8"))
        for name, value in self.attributes().items():
            size += len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        return size


def _item_cost(item: DigestItem) -> int:
    """Bytes one item adds to a message: its JSON escaped inside `default`, plus a comma."""
    return len(json.dumps(json.dumps(dict(item), separators=(",", ":"))).encode("utf-8")) - 2 + 1


def build_digest(
    clinic_id: str,
    day: date,
    items: Iterable[DigestItem],
    limit: int = SNS_MAX_BYTES,
    worklist_url: str | None = None,
) -> list[DigestMessage]:
    """A clinic's digest for one date: one message, or parts only when one would pass ``limit``.

    The messages hold the very item objects given (the sweep maps each part back to its outbox entries), patients
    most urgent first; every item is in exactly one part."""
    ordered = [item for entry in by_patient(items) for item in entry.items]
    if not ordered:
        return []
    room = limit - SAFETY_MARGIN_BYTES
    whole = DigestMessage(clinic_id, day, 1, 1, tuple(ordered), email_text(clinic_id, day, ordered, worklist_url))
    if whole.size_bytes() <= room:
        return [whole]
    # Parts: the widest part numbers bound the overheads; part 1 carries the e-mail, the others a note.
    wide = 99999
    first_email = email_text(clinic_id, day, ordered, worklist_url, part=1, parts=wide)
    budgets = (
        room - DigestMessage(clinic_id, day, wide, wide, (), first_email).size_bytes(),
        room
        - DigestMessage(clinic_id, day, wide, wide, (), _continuation_text(clinic_id, day, wide, wide)).size_bytes(),
    )
    chunks: list[list[DigestItem]] = [[]]
    used = 0
    for item in ordered:
        cost = _item_cost(item)
        budget = budgets[0 if len(chunks) == 1 else 1]
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
            budget = budgets[1]
        if cost > budget:
            raise ValueError("a single digest item is larger than an SNS message can hold")
        chunks[-1].append(item)
        used += cost
    parts = len(chunks)
    messages = [
        DigestMessage(
            clinic_id,
            day,
            index + 1,
            parts,
            tuple(chunk),
            email_text(clinic_id, day, ordered, worklist_url, part=1, parts=parts)
            if index == 0
            else _continuation_text(clinic_id, day, index + 1, parts),
        )
        for index, chunk in enumerate(chunks)
    ]
    for message in messages:
        if message.size_bytes() > limit:  # pragma: no cover - the budgets above are conservative
            raise ValueError("digest part passes the SNS size limit")
    return messages


def parse_document(body: str) -> dict[str, Any]:
    """The digest JSON back from an SNS body (used by the in-memory twin and tests)."""
    document: dict[str, Any] = json.loads(json.loads(body)["default"])
    return document
