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
INFUSION_PREFIX = "INFUSION#"
RESULT_PREFIX = "RESULT#"
NOTICE_PREFIX = "NOTICE#"
AUDIT_PREFIX = "AUDIT#"
RECORD_AFTER = "AUDIT$"
"""A patient's whole record is ``sk > RECORD_AFTER``: ``$`` follows ``#``, so every ``AUDIT#...`` item sorts
before it and every other item type (INFUSION, NOTICE, PROFILE, RESULT) after it. No item type may sort between
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


def result_sk(day: date, result_id: str) -> str:
    return f"{RESULT_PREFIX}{day.isoformat()}#{result_id}"


def notice_sk(key: str) -> str:
    return f"{NOTICE_PREFIX}{key}"


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
