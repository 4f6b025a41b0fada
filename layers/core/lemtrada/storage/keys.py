"""Key shapes shared by both repository implementations, so the in-memory twin orders and shards exactly alike."""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
import zlib
from datetime import UTC, date, datetime

DEFAULT_DUE_SHARDS = 16
PROFILE = "PROFILE"
LINK = "PATIENT"
CLINIC_PK = "CLINIC"
SWEEPS_PK = "SWEEPS"
"""One small item per clinic (its sweep lease): the hourly plan reads them all with one Query."""
INFUSION_PREFIX = "INFUSION#"
RESULT_PREFIX = "RESULT#"
"""Audit targets name a result ``RESULT#<date>#<result id>`` (results themselves live in ``RESULTS#<year>``)."""
RESULTS_PREFIX = "RESULTS#"
NOTICES = "NOTICES"
"""Notice marks: the item ``NOTICES`` (marks stored at enrolment and by sweeps before marks were split by month)
and one ``NOTICES#<yyyy-mm>`` per month of sweep dates, so a night's write touches a month of marks, not all."""
REVIEWS = "REVIEWS"
"""The item holding a patient's acknowledgements (one attribute each). Not ``ACK...``: it must sort after
``AUDIT$`` to be part of the whole-record Query."""
WORKLIST_COUNTER_PREFIX = "WORKLIST#"
"""``CLINIC#<id>`` / ``WORKLIST#<nn>``: the clinic's worklist counters, one item per due shard."""
NOTICE_PREFIX = "NOTICE#"
AUDIT_PREFIX = "AUDIT#"
SWEEP_AUDIT_PREFIX = "AUDIT#SWEEPS#"
"""One item per patient and month of sweep dates holds every sweep's audit entry of that month (updated in place):
the trail stays complete and gains twelve items a year, not one per night. It sorts after the dated entries and,
like them, before ``AUDIT$``."""
OUTBOX_PREFIX = "OUTBOX#"
PAGE_PREFIX = "PAGE#"
RECORD_AFTER = "AUDIT$"
"""A patient's whole record is ``sk > RECORD_AFTER``: ``$`` follows ``#``, so every ``AUDIT#...`` item sorts
before it and every other item type (INFUSION, NOTICES, PROFILE, RESULTS) after it. No item type may sort between
``AUDIT#`` and ``AUDIT$``."""


def due_shards_from_env() -> int:
    """``DUE_SHARDS`` from the environment (default 16); a bad value fails loudly at start-up."""
    raw = os.environ.get("DUE_SHARDS", "").strip()
    shards = int(raw) if raw else DEFAULT_DUE_SHARDS
    if not 1 <= shards <= 100:
        raise ValueError(f"DUE_SHARDS must be between 1 and 100, got {shards}")
    return shards


def due_shard_number(patient_id: str, shards: int) -> int:
    """A stable hash (CRC-32, same on every host and Python run) spreads patients over the shards."""
    return zlib.crc32(patient_id.encode("utf-8")) % shards


def due_shard_key(shard: int) -> str:
    return f"DUE#{shard:02d}"


def patient_pk(patient_id: str) -> str:
    return f"PATIENT#{patient_id}"


def user_pk(sub: str) -> str:
    return f"USER#{sub}"


def clinic_key(clinic_id: str) -> str:
    return f"CLINIC#{clinic_id}"


def infusion_sk(day: date) -> str:
    return f"{INFUSION_PREFIX}{day.isoformat()}"


def results_sk(year: int) -> str:
    """The item holding one calendar year of a patient's results."""
    return f"{RESULTS_PREFIX}{year:04d}"


def result_name(day: date, result_id: str) -> str:
    """A result's attribute name inside its year's item: month, day, then the id (unique per patient and date)."""
    return f"{day.month:02d}{day.day:02d}{result_id}"


def result_day_and_id(year: int, name: str) -> tuple[date, str]:
    return date(year, int(name[:2]), int(name[2:4])), name[4:]


def notices_sk(on: date) -> str:
    """The marks item a sweep on ``on`` writes: its month's."""
    return f"{NOTICES}#{on.year:04d}-{on.month:02d}"


def is_notices_sk(sk: str) -> bool:
    return sk == NOTICES or sk.startswith(f"{NOTICES}#")


def sweep_audit_sk(on: date) -> str:
    """The audit item of a patient's sweeps in the month of ``on``."""
    return f"{SWEEP_AUDIT_PREFIX}{on.year:04d}-{on.month:02d}"


def outbox_pk(clinic_id: str) -> str:
    return f"{OUTBOX_PREFIX}{clinic_id}"


def outbox_page_sk(day: date, shard: int, run: str, number: int) -> str:
    """A page of a clinic's outbox: the notices one worker run of one shard queued for ``day``, ~1 KB each."""
    return f"{PAGE_PREFIX}{day.isoformat()}#{shard:02d}#{run}#{number:04d}"


def outbox_page_date(sk: str) -> date:
    return date.fromisoformat(sk.removeprefix(PAGE_PREFIX)[:10])


def outbox_chunk_name(patient_id: str, version: int) -> str:
    """A patient's notices in a page: named by the version its sweep write was checked against, unique per patient
    (two committed writes never share one), so a retry after a lost race never overwrites a committed chunk."""
    return f"{patient_id}#{version}"


def outbox_chunk_patient(name: str) -> str:
    return name.rpartition("#")[0]


_NOTICE_KINDS = {"occurrence": "o", "milestone": "m", "deviation": "d"}
_NOTICE_KIND_OF = {short: kind for kind, short in _NOTICE_KINDS.items()}
RAW_NOTICE = "="


def notice_name(patient_id: str, key: str) -> str:
    """A notice key as stored in the patient's NOTICES item: without the patient id the engine puts in front
    (the item's partition key says it already) and with the kind shortened; any other key is kept whole."""
    prefix = f"{patient_id}#"
    if key.startswith(prefix):
        kind, sep, tail = key[len(prefix) :].partition("#")
        short = _NOTICE_KINDS.get(kind)
        if short is not None and sep:
            return f"{short}#{tail}"
    return RAW_NOTICE + key


def notice_key(patient_id: str, name: str) -> str:
    """The engine's notice key back from its stored name (inverse of ``notice_name``)."""
    if name.startswith(RAW_NOTICE):
        return name[len(RAW_NOTICE) :]
    short, _, tail = name.partition("#")
    return f"{patient_id}#{_NOTICE_KIND_OF[short]}#{tail}"


_ACK_KINDS = {"finding": "f", "deviation": "d", "occurrence": "o"}
_ACK_KIND_OF = {short: kind for kind, short in _ACK_KINDS.items()}


def acknowledgement_name(kind: str, ref: str) -> str:
    """An acknowledgement's attribute in the REVIEWS item: the kind's letter, ``#``, then the ref."""
    return f"{_ACK_KINDS[kind]}#{ref}"


def acknowledgement_kind_and_ref(name: str) -> tuple[str, str]:
    short, _, ref = name.partition("#")
    return _ACK_KIND_OF[short], ref


def audit_sk(at: datetime) -> str:
    """Audit items sort by the UTC instant, then a random suffix keeps two entries in one microsecond apart."""
    instant = at.astimezone(UTC) if at.tzinfo is not None else at
    return f"{AUDIT_PREFIX}{instant.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#{uuid.uuid4().hex[:12]}"


def encode_cursor(clinic_id: str, last_patient_id: str) -> str:
    """An opaque page cursor: the last patient id of the page, bound to the clinic it was issued for."""
    raw = json.dumps({"c": clinic_id, "p": last_patient_id}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(clinic_id: str, cursor: str) -> str:
    """The patient id a cursor continues after; ValueError for anything this clinic was not given."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise ValueError("invalid page cursor") from exc
    if not isinstance(data, dict) or set(data) != {"c", "p"}:
        raise ValueError("invalid page cursor")
    owner, patient_id = data["c"], data["p"]
    if not isinstance(owner, str) or not isinstance(patient_id, str) or not patient_id:
        raise ValueError("invalid page cursor")
    if owner != clinic_id:
        raise ValueError("page cursor belongs to another clinic")
    return patient_id


def worklist_counter_sk(shard: int) -> str:
    return f"{WORKLIST_COUNTER_PREFIX}{shard:02d}"


def encode_worklist_cursor(clinic_id: str, rank: str) -> str:
    """An opaque worklist cursor: the index's last evaluated rank, bound to the clinic it was issued for."""
    raw = json.dumps({"c": clinic_id, "w": rank}, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_worklist_cursor(clinic_id: str, cursor: str) -> tuple[str, str]:
    """(rank, patient id) a worklist cursor continues after; ValueError for anything this clinic was not given."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise ValueError("invalid page cursor") from exc
    if not isinstance(data, dict) or set(data) != {"c", "w"}:
        raise ValueError("invalid page cursor")
    owner, rank = data["c"], data["w"]
    if not isinstance(owner, str) or not isinstance(rank, str):
        raise ValueError("invalid page cursor")
    if owner != clinic_id:
        raise ValueError("page cursor belongs to another clinic")
    parts = rank.split("#", 2)
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) != 1 or not parts[2]:
        raise ValueError("invalid page cursor")
    try:
        date.fromisoformat(parts[1])
    except ValueError as exc:
        raise ValueError("invalid page cursor") from exc
    return rank, parts[2]
