"""HL7 v2.5 ORU^R01 over HTTP for the lab route (DESIGN 10): ER7 parsed with the maintained ``hl7`` package
(shipped with the lab function only), observations read from PID/OBR/OBX, answers as ACK messages.

Read: MSH-9 ``ORU^R01``, MSH-10 (the control id: with the OBX's place, each observation's receipt key), PID-3
repetitions (``<id>^^^^MR``: the clinic's external_ref; ``<id>^^^^PI``: the patient_id), OBR-7 or OBX-14 the
observation's time, OBX-2 ``NM``, OBX-3 ``<LOINC>^<text>^LN``, OBX-5 the value, OBX-6 the UCUM unit, OBX-7
``low-high``, OBX-11 ``F`` (final) or ``C`` (corrected; others are not stored).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import hl7  # type: ignore[import-untyped]
from hl7.exceptions import HL7Exception  # type: ignore[import-untyped]

from lemtrada.services.lab_results import EXTERNAL_REF, PATIENT_ID, LabObservation, LabOutcome, rejected

HL7_V2 = "application/hl7-v2"
_STATUS = {"F": "final", "C": "corrected"}
MAX_CONTROL_ID = 199
"""MSH-10's length in HL7 v2.7 and later (20 in v2.5): a bound on what a receipt stores."""
_TS = re.compile(r"^(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")
_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_ORDER = {"MSH": 0, "PID": 1, "OBR": 2, "OBX": 3}
# HL7 table 0357 (message error condition codes) for each of this API's codes.
_ERROR_CODES = {
    "patient_not_found": ("204", "Unknown key identifier"),
    "analyte_already_recorded": ("205", "Duplicate key identifier"),
    "version_conflict": ("206", "Application record locked"),
    "unknown_loinc": ("103", "Table value not found"),
    "unit_not_accepted": ("103", "Table value not found"),
    "analyte_not_of_item": ("103", "Table value not found"),
    "value_invalid": ("102", "Data type error"),
    "validation_error": ("102", "Data type error"),
    "date_invalid": ("102", "Data type error"),
    "range_invalid": ("102", "Data type error"),
}


class Malformed(Exception):
    """Not an ORU^R01 this route reads: 400 with an ``AR`` acknowledgement, nothing stored. ``error`` is the HL7
    table 0357 condition the ERR segment names."""

    def __init__(self, detail: str, error: tuple[str, str] = ("100", "Segment sequence error")) -> None:
        super().__init__(detail)
        self.error = error


_REQUIRED = ("101", "Required field missing")
_UNSUPPORTED_TYPE = ("200", "Unsupported message type")
_UNSUPPORTED_VERSION = ("203", "Unsupported version id")


class ParsedMessage:
    """A parsed ORU: its MSH fields for the ACK, and one observation (or refusal) per OBX."""

    def __init__(self, message: Any, observations: list[LabObservation | LabOutcome], obx_ids: list[str]) -> None:
        self.message = message
        self.observations = observations
        self.obx_ids = obx_ids  # the OBX-1 set id of each observation, for the ERR segments

    @property
    def control_id(self) -> str:
        return str(self.message.segment("MSH").extract_field(1, 10, 1, 1))


def normalised(text: str) -> str:
    """Segments end with CR in ER7; over HTTP senders also use LF or CRLF."""
    lines = [line for line in re.split(r"\r\n|\r|\n", text.strip()) if line.strip()]
    return "\r".join(lines) + "\r"


def parse_message(text: str, max_observations: int) -> ParsedMessage:
    """The message's observations in order; Malformed for anything that is not a readable ORU^R01."""
    if not text.strip().startswith("MSH|"):
        raise Malformed("the message must start with an MSH segment")
    try:
        message = hl7.parse(normalised(text))
    except (HL7Exception, ValueError, IndexError) as error:
        raise Malformed(f"not HL7 v2 ER7: {error}") from error
    msh = message.segment("MSH")
    kind = (_field(msh, 9, 1, 1), _field(msh, 9, 1, 2))
    if kind != ("ORU", "R01"):
        raise Malformed(f"MSH-9 must be ORU^R01, not {'^'.join(kind)}", _UNSUPPORTED_TYPE)
    control = _field(msh, 10)
    if not control:
        raise Malformed("MSH-10 (the message control id) is required", _REQUIRED)
    if len(control) > MAX_CONTROL_ID:
        raise Malformed(f"MSH-10 (the message control id) takes at most {MAX_CONTROL_ID} characters", _REQUIRED)
    if not _field(msh, 12).startswith("2."):
        raise Malformed("MSH-12 must be an HL7 v2 version (2.5)", _UNSUPPORTED_VERSION)
    _check_order(message)
    sender = f"{_field(msh, 3)}^{_field(msh, 4)}"
    observations: list[LabObservation | LabOutcome] = []
    set_ids: list[str] = []
    subject: tuple[str, str] | None = None
    observed: str = ""
    count = 0
    for segment in message:
        name = str(segment[0])
        if name == "PID":
            subject = _subject(segment)
            observed = ""
        elif name == "OBR":
            observed = _field(segment, 7)
        elif name == "OBX":
            count += 1
            if count > max_observations:
                raise TooMany(f"a message may carry at most {max_observations} OBX segments")
            set_id = _field(segment, 1) or str(count)
            key = f"hl7|{sender}|{control}|{count}"
            observations.append(_observation(segment, f"OBX[{count}]", key, subject, observed))
            set_ids.append(set_id)
    if not observations:
        raise Malformed("the message carries no OBX segment", _REQUIRED)
    return ParsedMessage(message, observations, set_ids)


class TooMany(Exception):
    """More OBX segments than one message may carry: 413."""


def _field(segment: Any, field: int, repeat: int = 1, component: int = 1) -> str:
    try:
        return str(segment.extract_field(1, field, repeat, component)).strip()
    except (IndexError, KeyError, AttributeError):
        return ""


def _check_order(message: Any) -> None:
    """MSH first, then per patient PID, OBR, OBX; an OBX needs an OBR and an OBR a PID before it."""
    seen_pid = seen_obr = False
    for number, segment in enumerate(message):
        name = str(segment[0])
        if name == "MSH" and number != 0:
            raise Malformed("MSH must be the first segment and come once")
        if name == "PID":
            seen_pid, seen_obr = True, False
        elif name == "OBR":
            if not seen_pid:
                raise Malformed(f"segment {number + 1}: OBR before any PID (wrong segment order)")
            seen_obr = True
        elif name == "OBX" and not seen_obr:
            raise Malformed(f"segment {number + 1}: OBX before any OBR (wrong segment order)")
        elif len(name) != 3 or not name.isalnum() or not name.isupper():
            raise Malformed(f"segment {number + 1}: {name[:8]!r} is not a segment name")


def _subject(pid: Any) -> tuple[str, str] | None:
    """PID-3: the patient_id (type PI) when given, else the external_ref (type MR)."""
    found: dict[str, str] = {}
    for repeat in range(1, 11):
        value = _field(pid, 3, repeat, 1)
        if not value:
            break
        kind = _field(pid, 3, repeat, 5).upper()
        if kind == "PI":
            found.setdefault(PATIENT_ID, value)
        elif kind == "MR":
            found.setdefault(EXTERNAL_REF, value)
    for system in (PATIENT_ID, EXTERNAL_REF):
        if system in found:
            return system, found[system]
    return None


def _timestamp(raw: str) -> date | datetime | None:
    """An HL7 TS: ``YYYYMMDD`` (a date), or with hours and minutes (and an offset, else taken as local)."""
    found = _TS.match(raw)
    if found is None:
        return None
    day_text, hours, minutes, seconds, offset = found.groups()
    try:
        day = datetime.strptime(day_text, "%Y%m%d")
        if hours is None:
            return day.date()
        moment = day.replace(hour=int(hours), minute=int(minutes or 0), second=int(seconds or 0))
    except ValueError:
        return None
    if offset is None:
        return moment.date()  # no offset: the sender's (the clinic's) local time
    sign = 1 if offset[0] == "+" else -1
    if int(offset[1:3]) > 23 or int(offset[3:5]) > 59:
        return None  # not a UTC offset (+HHMM, under a day)
    shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])) * sign
    return moment.replace(tzinfo=timezone(shift))


def _observation(
    obx: Any, ref: str, key: str, subject: tuple[str, str] | None, observed: str
) -> LabObservation | LabOutcome:
    status = _STATUS.get(_field(obx, 11).upper(), _field(obx, 11) or "missing")
    if subject is None:
        return rejected(ref, 422, "subject_invalid", "PID-3 needs an identifier of type MR (external_ref) or PI")
    if _field(obx, 3, 1, 3).upper() != "LN" or not _field(obx, 3):
        return rejected(ref, 422, "loinc_missing", "OBX-3 must be a LOINC code (<code>^<text>^LN)")
    loinc = _field(obx, 3)
    when = _timestamp(_field(obx, 14) or observed)
    if when is None:
        return rejected(ref, 422, "date_invalid", "OBX-14 or OBR-7 must be a timestamp (YYYYMMDD[HHMM[SS]][+ZZZZ])")
    if status not in ("final", "corrected"):
        return LabObservation(ref, key, subject[0], subject[1], loinc, when, 0.0, "", status=status)
    raw_value = _field(obx, 5)
    value_type = _field(obx, 2).upper()
    if value_type not in ("NM", "SN", "") or not _NUMBER.match(raw_value) or not math.isfinite(float(raw_value)):
        return rejected(ref, 422, "value_invalid", f"OBX-5 must be a number (OBX-2 NM), not {raw_value[:20]!r}")
    unit = _field(obx, 6)
    if not unit:
        return rejected(ref, 422, "unit_missing", "OBX-6 (a UCUM unit) is required")
    low: float | None = None
    high: float | None = None
    reference = _field(obx, 7)
    if reference:
        bounds = _RANGE.match(reference)
        if bounds is None:
            return rejected(ref, 422, "range_invalid", f"OBX-7 must be low-high, not {reference[:20]!r}")
        low, high = float(bounds.group(1)), float(bounds.group(2))
    return LabObservation(ref, key, subject[0], subject[1], loinc, when, float(raw_value), unit, low, high, status)


# ---- answers ------------------------------------------------------------------------------------------------
def _escape(text: str) -> str:
    """Text for an ER7 field: the delimiters escaped as HL7 escape sequences."""
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _msh(receiver: str, control_id: str, now: datetime, *, to: tuple[str, str] = ("", "")) -> str:
    stamp = now.strftime("%Y%m%d%H%M%S")
    sending = f"{_escape(to[0])}|{_escape(to[1])}"
    return f"MSH|^~\\&|LEMTRADA|{_escape(receiver)}|{sending}|{stamp}||ACK^R01^ACK|{_escape(control_id)}|P|2.5"


def ack(parsed: ParsedMessage, outcomes: list[LabOutcome], clinic_id: str, now: datetime, ack_id: str) -> str:
    """``AA`` when every OBX was stored (or was before, or is not stored on purpose), else ``AE`` with one ERR per
    failing OBX (ERR-2 names it: ``OBX^<set id>^5``)."""
    msh = parsed.message.segment("MSH")
    to = (_field(msh, 3), _field(msh, 4))
    failed = [(outcome, set_id) for outcome, set_id in zip(outcomes, parsed.obx_ids, strict=True) if outcome.failed]
    code = "AE" if failed else "AA"
    lines = [_msh(clinic_id, ack_id, now, to=to), f"MSA|{code}|{_escape(parsed.control_id)}"]
    for outcome, set_id in failed:
        number, text = _ERROR_CODES.get(outcome.code or "", ("207", "Application internal error"))
        field = "3" if outcome.code == "patient_not_found" else "5"
        segment = "PID^1" if outcome.code == "patient_not_found" else f"OBX^{_escape(set_id)}"
        message = _escape(f"{outcome.ref} {outcome.code}: {outcome.detail}")
        lines.append(f"ERR||{segment}^{field}|{number}^{text}^HL70357|E||||{message}")
    return "\r".join(lines) + "\r"


def reject(
    text: str,
    reason: str,
    clinic_id: str,
    now: datetime,
    ack_id: str,
    *,
    error: tuple[str, str] = ("100", "Segment sequence error"),
) -> str:
    """``AR`` for a message that could not be read (its control id echoed when it has one)."""
    control = ""
    to = ("", "")
    for line in re.split(r"\r\n|\r|\n", text):
        if line.startswith("MSH|"):
            fields = line.split("|")
            control = fields[9] if len(fields) > 9 else ""
            to = (fields[2] if len(fields) > 2 else "", fields[3] if len(fields) > 3 else "")
            break
    lines = [
        _msh(clinic_id, ack_id, now, to=to),
        f"MSA|AR|{_escape(control)}",
        f"ERR||MSH^1|{error[0]}^{error[1]}^HL70357|E||||{_escape(reason)}",
    ]
    return "\r".join(lines) + "\r"
