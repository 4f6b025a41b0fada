"""A clinic's daily digest as SNS messages: the JSON of DESIGN 2.6 plus readable e-mail text, split in parts.

An item is the JSON-ready mapping a notice gives (`Notice.to_digest_item()`): opaque patient id and codes only,
never names, birth dates or free text. Splitting measures the real serialised message (envelope, escaping,
subject and attributes included), so every part stays under SNS's limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# SNS rejects a message whose body plus attributes passes 256 KiB; keep a margin for what we cannot measure.
SNS_MAX_BYTES = 256 * 1024
SAFETY_MARGIN_BYTES = 2 * 1024
SUBJECT_MAX = 100  # SNS e-mail subjects: at most 100 printable ASCII characters

DigestItem = Mapping[str, Any]

# Groups of the e-mail text, most urgent first. A deviation or a safety finding carries its own severity; a
# monitoring occurrence is graded by how late it is; a milestone reached is information.
_GROUPS: tuple[tuple[str, str], ...] = (
    ("critical", "CRITICAL"),
    ("major", "MAJOR"),
    ("minor", "MINOR"),
    ("info", "FOR INFORMATION"),
)
_OCCURRENCE_SEVERITY = {"missed": "critical", "overdue": "major", "due": "minor"}
_RANK = {name: index for index, (name, _) in enumerate(_GROUPS)}


def severity_of(item: DigestItem) -> str:
    """Which group of the e-mail an item belongs to."""
    kind = item.get("kind")
    if kind in ("deviation", "finding"):
        severity = str(item.get("severity") or "major")
        return severity if severity in _RANK else "major"
    if kind == "occurrence":
        return _OCCURRENCE_SEVERITY.get(str(item.get("state")), "minor")
    return "info"


def sort_key(item: DigestItem) -> tuple[int, bool, str, str, str, int, str]:
    """Stable order: most urgent first, findings first within a group (platelets at 15 head the e-mail), then
    patient, then what."""
    k = item.get("k")
    return (
        _RANK[severity_of(item)],
        item.get("kind") != "finding",
        str(item.get("patient_id", "")),
        str(item.get("kind", "")),
        str(item.get("code", "")),
        k if isinstance(k, int) else 0,
        str(item.get("date") or item.get("due_date") or ""),
    )


def item_line(item: DigestItem) -> str:
    """One readable line per item (codes and dates only: nothing identifying beyond the opaque patient id)."""
    patient = item.get("patient_id")
    code = item.get("code")
    match item.get("kind"):
        case "occurrence":
            return f"- patient {patient}: {code} #{item.get('k')} is {item.get('state')} (due {item.get('due_date')})"
        case "milestone":
            return f"- patient {patient}: {code} reached on {item.get('date')}"
        case "deviation":
            return f"- patient {patient}: deviation {code} ({item.get('severity')}) on infusion of {item.get('date')}"
        case "finding":
            return f"- patient {patient}: finding {code} ({item.get('severity')}) on result of {item.get('date')}"
        case _:
            return f"- patient {patient}: {code}"


@dataclass(frozen=True, slots=True)
class DigestMessage:
    """One SNS message: part `part` of `parts` of a clinic's digest for one local date."""

    clinic_id: str
    date: date
    part: int
    parts: int
    items: tuple[DigestItem, ...]

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
        header = f"Lemtrada regimen digest for clinic {self.clinic_id}, {self.date.isoformat()}"
        if self.parts > 1:
            header += f" (part {self.part} of {self.parts})"
        lines = [header, f"{len(self.items)} item(s) need attention.", ""]
        for name, title in _GROUPS:
            group = [item for item in self.items if severity_of(item) == name]
            if group:
                lines.append(f"{title} ({len(group)})")
                lines.extend(item_line(item) for item in group)
                lines.append("")
        lines.append("Patients appear by their opaque id; open the clinic worklist for details.")
        return "\n".join(lines)

    def body(self) -> str:
        """The SNS Message for MessageStructure=json."""
        return json.dumps(
            {"default": json.dumps(self.document(), separators=(",", ":")), "email": self.email_text()},
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
    """Bytes one item adds to a message: its JSON escaped inside `default` plus its e-mail line escaped."""
    in_default = len(json.dumps(json.dumps(dict(item), separators=(",", ":"))).encode("utf-8")) - 2 + 1
    in_email = len(json.dumps(item_line(item)).encode("utf-8")) - 2 + 2
    return in_default + in_email


def build_digest(
    clinic_id: str, day: date, items: Iterable[DigestItem], limit: int = SNS_MAX_BYTES
) -> list[DigestMessage]:
    """Split a clinic's items for one date into as few messages as fit under `limit` (at least one item each)."""
    ordered = sorted(items, key=sort_key)
    if not ordered:
        return []
    # Overhead of an empty message with the widest part numbers and every group heading.
    probe = DigestMessage(clinic_id, day, 99999, 99999, ())
    overhead = probe.size_bytes() + sum(len(title) + 16 for _, title in _GROUPS) + 64
    budget = limit - SAFETY_MARGIN_BYTES - overhead
    chunks: list[list[DigestItem]] = [[]]
    used = 0
    for item in ordered:
        cost = _item_cost(item)
        if cost > budget:
            raise ValueError("a single digest item is larger than an SNS message can hold")
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += cost
    messages = [
        DigestMessage(clinic_id, day, index + 1, len(chunks), tuple(chunk)) for index, chunk in enumerate(chunks)
    ]
    for message in messages:
        if message.size_bytes() > limit:  # pragma: no cover - the budget above is conservative
            raise ValueError("digest part passes the SNS size limit")
    return messages


def parse_document(body: str) -> dict[str, Any]:
    """The digest JSON back from an SNS body (used by the in-memory twin and tests)."""
    document: dict[str, Any] = json.loads(json.loads(body)["default"])
    return document
