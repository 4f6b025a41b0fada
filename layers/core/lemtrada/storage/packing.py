"""The packed item kinds, whose attribute names are data: a year of results, notice marks, acknowledgements.

- ``RESULTS#<year>``: one attribute per result, named ``MMDD<result id>`` (storage.keys), valued
  ``item|value|unit|status`` with trailing empty fields cut, a JSON list when a unit or status is empty or
  holds ``|``, or a JSON object when the result carries analytes or findings.
- ``NOTICES``: one attribute per mark, named by its key without the patient id (storage.keys), valued
  ``<YYYYMMDD sweep date><clinic id>``.
- ``REVIEWS``: one attribute per acknowledgement, named by its kind and ref (storage.keys), valued
  ``[action, by, at]`` as JSON text.
- ``AUDIT#SWEEPS#<yyyy-mm>``: a month of a patient's sweep audit entries, a list of short strings.
- ``OUTBOX#<clinic>`` / ``PAGE#...``: one attribute per patient chunk, valued ``[[key, digest item], ...]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from lemtrada.regimen.records import Analyte, LabFinding, Result, ResultItem, Severity
from lemtrada.regimen.safety import finding_id
from lemtrada.storage import keys
from lemtrada.storage.model import KEY_NAMES, SK
from lemtrada.storage.ports import Acknowledgement, AuditEntry, NoticeMark, QueuedNotice
from lemtrada.storage.wire import Raw, item_key


# ---- results, packed: RESULTS#<year> holds one attribute per result ------------------------------------------
def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def result_entry(result: Result) -> str:
    """A result's value in its year's item.

    A result with analytes or findings is a JSON object (``{"i": item, "v", "u", "s", "a": [[code, value,
    unit, low, high]], "f": [[code, severity, detail, source]]}``, absent fields left out). Otherwise the round-1
    forms: ``item|value|unit|status`` with trailing empty fields cut, or a JSON list when a unit or status is
    empty or holds ``|``. An item code never starts with ``[`` or ``{``, so the three forms cannot be confused.
    ``acknowledged`` is not stored here: acknowledgements are items of their own.
    """
    if result.analytes or result.findings:
        body: dict[str, Any] = {"i": result.item.value}
        for name, value in (("v", result.value), ("u", result.unit), ("s", result.status)):
            if value is not None:
                body[name] = value
        if result.analytes:
            body["a"] = [_trimmed([a.code, a.value, a.unit, a.low, a.high]) for a in result.analytes]
        if result.findings:
            body["f"] = [[f.code, f.severity.value, f.detail, f.source] for f in result.findings]
        return json.dumps(body, separators=(",", ":"), allow_nan=False)
    texts = (result.unit, result.status)
    if any(text is not None and (not text or "|" in text) for text in texts):
        return json.dumps([result.item.value, result.value, result.unit, result.status], separators=(",", ":"))
    return "|".join((result.item.value, _number(result.value), result.unit or "", result.status or "")).rstrip("|")


def _trimmed(values: list[Any]) -> list[Any]:
    while values and values[-1] is None:
        values.pop()
    return values


def _analyte(values: Sequence[Any]) -> Analyte:
    code, value, unit, low, high = (*values, None, None)[:5]
    return Analyte(
        code=code,
        value=float(value),
        unit=unit,
        low=None if low is None else float(low),
        high=None if high is None else float(high),
    )


def result_from_entry(day: date, result_id: str, entry: str) -> Result:
    if entry.startswith("{"):
        body = json.loads(entry)
        return Result(
            result_id=result_id,
            item=ResultItem(body["i"]),
            date=day,
            value=None if body.get("v") is None else float(body["v"]),
            unit=body.get("u"),
            status=body.get("s"),
            analytes=tuple(_analyte(values) for values in body.get("a", ())),
            findings=tuple(
                LabFinding(
                    finding_id=finding_id(result_id, code),
                    result_id=result_id,
                    date=day,
                    code=code,
                    severity=Severity(severity),
                    detail=detail,
                    source=source,
                )
                for code, severity, detail, source in body.get("f", ())
            ),
        )
    if entry.startswith("["):
        item, value, unit, status = json.loads(entry)
    else:
        item, value, unit, status = (*entry.split("|"), "", "", "")[:4]
        value, unit, status = (float(value) if value else None), (unit or None), (status or None)
    return Result(
        result_id=result_id,
        item=ResultItem(item),
        date=day,
        value=None if value is None else float(value),
        unit=unit,
        status=status,
    )


def results_items(patient_id: str, results: Sequence[Result]) -> list[Raw]:
    """A patient's results as one item per calendar year, each result one attribute (``MMDD<id>``)."""
    by_year: dict[int, Raw] = {}
    for result in results:
        item = by_year.setdefault(
            result.date.year, item_key(keys.patient_pk(patient_id), keys.results_sk(result.date.year))
        )
        item[keys.result_name(result.date, result.result_id)] = {"S": result_entry(result)}
    return [by_year[year] for year in sorted(by_year)]


def results_from_item(raw: Raw) -> list[Result]:
    year = int(raw[SK]["S"].removeprefix(keys.RESULTS_PREFIX))
    out = []
    for name, value in raw.items():
        if name not in KEY_NAMES:
            day, result_id = keys.result_day_and_id(year, name)
            out.append(result_from_entry(day, result_id, value["S"]))
    return out


# ---- notice marks, packed: NOTICES holds one attribute per mark --------------------------------------------------
def mark_value(on: date, clinic_id: str) -> str:
    """A notice mark's value: the sweep's date (``YYYYMMDD``) then the clinic it was owed to."""
    return f"{on.year:04d}{on.month:02d}{on.day:02d}{clinic_id}"


LEGACY_SENT = "sent"
"""A string set older NOTICES items carry (the marks already delivered); nothing reads it, the outbox keeps that
state. It is skipped on read: no mark's name is ``sent`` (names start with ``o#``, ``m#``, ``d#`` or ``=``)."""


def mark_names(raw: Raw) -> Iterable[str]:
    return (name for name in raw if name not in KEY_NAMES and name != LEGACY_SENT)


def notices_item(patient_id: str, marks: Sequence[NoticeMark]) -> Raw | None:
    """A patient's notice marks as one item: an attribute per mark (its key without the patient id)."""
    if not marks:
        return None
    item = item_key(keys.patient_pk(patient_id), keys.NOTICES)
    for mark in marks:
        item[keys.notice_name(patient_id, mark.key)] = {"S": mark_value(mark.on, mark.clinic_id)}
    return item


def marks_from_item(patient_id: str, raw: Raw) -> list[NoticeMark]:
    marks = []
    for name in mark_names(raw):
        text = raw[name]["S"]
        marks.append(
            NoticeMark(
                key=keys.notice_key(patient_id, name),
                on=date(int(text[:4]), int(text[4:6]), int(text[6:8])),
                clinic_id=text[8:],
            )
        )
    return sorted(marks, key=lambda mark: mark.key)


# ---- acknowledgements, packed: REVIEWS holds one attribute per acknowledgement ----------------------------------
def acknowledgement_value(ack: Acknowledgement) -> str:
    """``[action, by, at]`` as JSON text (the attribute's name is the kind and ref)."""
    return json.dumps([ack.action, ack.by, ack.at.isoformat()], separators=(",", ":"))


def acknowledgements_from_item(raw: Raw) -> list[Acknowledgement]:
    out = []
    for name in raw:
        if name in KEY_NAMES:
            continue
        kind, ref = keys.acknowledgement_kind_and_ref(name)
        action, by, at = json.loads(raw[name]["S"])
        out.append(Acknowledgement(kind=kind, ref=ref, action=action, by=by, at=datetime.fromisoformat(at)))
    return sorted(out, key=lambda ack: (ack.kind, ack.ref))


def acknowledgements_item(patient_id: str, acks: Sequence[Acknowledgement]) -> Raw | None:
    if not acks:
        return None
    item = item_key(keys.patient_pk(patient_id), keys.REVIEWS)
    for ack in acks:
        item[keys.acknowledgement_name(ack.kind, ack.ref)] = {"S": acknowledgement_value(ack)}
    return item


# ---- the sweep's audit, packed: AUDIT#SWEEPS#<yyyy-mm> holds a month of sweep entries -----------------------------
SWEEP_ENTRIES = "e"
"""The list attribute of a month's sweep audit item; each sweep appends one string (``list_append``)."""
_SYSTEM = ("system:sweep", "system", "notices.recorded")


def sweep_audit_value(on: date, entry: AuditEntry) -> str:
    """One sweep's entry: ``<UTC time>|<day of the sweep date>`` for the sweep's own system entry (~25 bytes, so a
    month stays under 1 KB), or ``[actor_sub, actor_role, at, action, target]`` as JSON for any other."""
    if (entry.actor_sub, entry.actor_role, entry.action) == _SYSTEM and entry.target == f"{keys.NOTICE_PREFIX}{on}":
        instant = entry.at.astimezone(UTC)
        return f"{instant:%Y%m%dT%H%M%S.%f}|{on.day:02d}"
    return json.dumps(
        [entry.actor_sub, entry.actor_role, entry.at.isoformat(), entry.action, entry.target], separators=(",", ":")
    )


def sweep_audit_entries(raw: Raw) -> list[AuditEntry]:
    """The entries of a month's sweep audit item, in the order they were appended."""
    year, month = (int(part) for part in raw[SK]["S"].removeprefix(keys.SWEEP_AUDIT_PREFIX).split("-"))
    out = []
    for value in raw.get(SWEEP_ENTRIES, {}).get("L", []):
        text = value["S"]
        if text.startswith("["):
            actor_sub, actor_role, at, action, target = json.loads(text)
            out.append(AuditEntry(actor_sub, actor_role, datetime.fromisoformat(at), action, target))
            continue
        instant, _, day = text.partition("|")
        at = datetime.strptime(instant, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
        target = f"{keys.NOTICE_PREFIX}{date(year, month, int(day)).isoformat()}"
        out.append(AuditEntry(*_SYSTEM[:2], at, _SYSTEM[2], target))
    return out


# ---- outbox pages, packed: PAGE#... holds one attribute per patient chunk ----------------------------------------
def outbox_chunk(notices: Sequence[QueuedNotice]) -> str:
    """A patient's notices of one sweep write in an outbox page: ``[[key, digest item], ...]`` as JSON."""
    return json.dumps([[n.key, dict(n.item)] for n in notices], separators=(",", ":"), sort_keys=True)


def outbox_chunk_notices(text: str) -> list[QueuedNotice]:
    return [QueuedNotice(key, item) for key, item in json.loads(text)]


def outbox_page_chunks(raw: Raw) -> dict[str, list[QueuedNotice]]:
    """A page's chunks by name (``<patient_id>#<version>``)."""
    return {name: outbox_chunk_notices(value["S"]) for name, value in raw.items() if name not in KEY_NAMES}
