"""Request models: strict shapes for every body the API takes (unknown fields rejected, bounded strings).

Dates are ``YYYY-MM-DD`` exactly; times are ISO 8601 with an explicit offset (a time without one is ambiguous
across a clinic's time zone and the phone's). Range rules that belong to the regimen (dose, infusion times) are
left to the rules engine so its rule codes come back.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, model_validator

from lemtrada.regimen.records import (
    Contraindication,
    Diagnosis,
    InfusionRoute,
    Label,
    ResultItem,
    Sex,
)

MAX_BODY_BYTES = 16 * 1024
"""Largest request body accepted; the biggest real body (an enrollment with a justification) is ~3 KB."""
HISTORY_BODY_BYTES = 256 * 1024
"""Largest body of ``POST /patients`` only, which may carry a patient's history (DESIGN 8): four years of
monitoring (~10 infusions, ~50 results with their analytes) is ~30 KB."""
MAX_HISTORY_INFUSIONS = 90
"""More than a lifetime of courses (5 + 3 + 3 ... infusions); the enrollment is one transaction of <= 100 items."""
MAX_HISTORY_RESULTS = 1000
"""Twenty years of monthly labs; it bounds the replay in date order (about 2 s on the bench machine for 1,000
results of one item, whose rules each read the earlier ones) inside the function's timeout."""

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)
"""Dates and times outside these bounds are refused: the rules add and subtract years to every date they read."""

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return _in_range(value)
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return _in_range(date.fromisoformat(value))


def _in_range[T: date](value: T) -> T:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"a date between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return _in_range(value)
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError("a time is ISO 8601 with an offset, e.g. 2026-03-02T09:30:00+01:00")
    return _in_range(datetime.fromisoformat(value))


def _timezone(value: Any) -> Any:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ValueError("an IANA time zone name, e.g. Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown IANA time zone {value!r}") from error
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a number")
    if not math.isfinite(value):
        raise ValueError("a finite number")
    return float(value)


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]
Timezone = Annotated[str, BeforeValidator(_timezone)]
Number = Annotated[float, BeforeValidator(_finite)]
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
"""Single-line text: no control characters (they would reach records, digests and clinicians' screens)."""
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Free text: line breaks and tabs, no other control characters."""
ShortText = Annotated[str, Field(min_length=1, max_length=64, strict=True, pattern=_NO_CONTROL)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=_ID.pattern, strict=True)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ClinicIn(_Request):
    name: Annotated[str, Field(min_length=1, max_length=200, strict=True, pattern=_NO_CONTROL)]
    timezone: Timezone
    label: Label
    digest_hour: Annotated[StrictInt, Field(ge=0, le=23)] = 6
    reminder_hour: Annotated[StrictInt, Field(ge=0, le=23)] = 9


class WorklistRebuildIn(_Request):
    limit: Annotated[StrictInt, Field(ge=1, le=100, description="Patients read by this call.")] = 25
    cursor: Annotated[
        str | None, Field(max_length=1024, strict=True, description="`next_cursor` of the previous call.")
    ] = None
    scope: Literal["missing", "all"] = Field(
        default="missing",
        description="`missing`: patients without a projection (stored before it existed); `all`: every patient "
        "whose projection differs from today's rule.",
    )


class EnrollmentIn(_Request):
    birth_date: IsoDate
    sex: Sex
    reproductive_potential: StrictBool
    diagnosis: Diagnosis
    prior_dmt_count: Annotated[StrictInt, Field(ge=0, le=50)]
    contraindications: Annotated[list[Contraindication], Field(max_length=len(Contraindication))]
    justification: Annotated[str | None, Field(max_length=2000, strict=True, pattern=_TEXT)] = None
    patient_sub: Identifier | None = None
    external_ref: Identifier | None = None
    rapidly_evolving_severe: StrictBool = False
    history: HistoryIn | None = Field(
        default=None,
        description=(
            "What happened before enrollment (DESIGN 8): the bodies of the infusion and result routes, in any "
            "order. Validated whole (422 naming the entry, e.g. `history.results[12].date`; nothing stored), "
            "replayed in date order; findings dated more than 30 days before enrollment are stored acknowledged "
            "with action `history` and never notified. Bodies up to 256 KB on this route."
        ),
    )


class PregnancyIn(_Request):
    """``ongoing`` from ``date`` (default: the clinic's today), or ``ended`` on ``date`` (required)."""

    state: Literal["ongoing", "ended"]
    date: IsoDate | None = None

    @model_validator(mode="after")
    def _ended_needs_date(self) -> Self:
        if self.state == "ended" and self.date is None:
            raise ValueError("an ended pregnancy needs its end date")
        return self


class ProfilePatchIn(_Request):
    pregnancy: PregnancyIn | None = None
    active_infection: StrictBool | None = None
    reproductive_potential: StrictBool | None = None
    withdrawn: StrictBool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("nothing to change: send at least one field")
        return self


def _json_number(value: Any) -> Any:
    """A JSON number (not a bool or a string); whether it is finite and not negative is the regimen's check, so
    the error names ``analytes[2].value`` with the analyte rules' codes."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a number")
    return float(value)


AnalyteNumber = Annotated[float, BeforeValidator(_json_number)]
MAX_ANALYTES = 32
"""More analytes than the largest item has (cbc: 5) leave room for a lab's extras; beyond this is not a result."""


class AnalyteIn(_Request):
    """One measured value: ``low``/``high`` are the lab's reference range for the sample, in the same unit."""

    code: ShortText
    value: AnalyteNumber
    unit: ShortText
    low: AnalyteNumber | None = None
    high: AnalyteNumber | None = None


class ResultIn(_Request):
    item: ResultItem
    date: IsoDate
    value: Number | None = None
    unit: ShortText | None = None
    status: ShortText | None = None
    analytes: Annotated[list[AnalyteIn], Field(max_length=MAX_ANALYTES)] = []


class InfusionIn(_Request):
    date: IsoDate
    dose_mg: Number
    diluted_at: IsoDateTime
    started_at: IsoDateTime
    ended_at: IsoDateTime
    route: InfusionRoute
    co_infused: StrictBool
    # The bounds come before the validator so that they reach the JSON schema (minimum/maximum) as well.
    methylprednisolone_mg: Annotated[float, Field(ge=0, le=10_000), BeforeValidator(_finite)]
    antiviral_prophylaxis: StrictBool
    observation_minutes: Annotated[StrictInt | None, Field(ge=0, le=24 * 60)] = None
    batch_number: ShortText | None = None
    course: Annotated[StrictInt | None, Field(ge=1, le=20)] = None


class HistoryIn(_Request):
    """A patient's history at enrollment: infusions (``course`` may be given) and results, as their routes take."""

    infusions: Annotated[list[InfusionIn], Field(max_length=MAX_HISTORY_INFUSIONS)] = []
    results: Annotated[list[ResultIn], Field(max_length=MAX_HISTORY_RESULTS)] = []


EnrollmentIn.model_rebuild()


class AcknowledgementIn(_Request):
    """A clinician's answer to a finding, a deviation or an overdue/missed occurrence (DESIGN 7)."""

    kind: Literal["finding", "deviation", "occurrence"]
    ref: Annotated[str, Field(min_length=1, max_length=160, strict=True, pattern=r"^[A-Za-z0-9_.:-]+$")]
    action: Literal[
        "reviewed", "repeat_test_ordered", "referred", "treatment_started", "patient_contacted", "not_applicable"
    ]


class SubscriptionIn(BaseModel):
    """The address that receives the digest (a clinic mailbox is best: it outlives staff changes)."""

    model_config = ConfigDict(extra="forbid")
    email: str = Field(
        # Visible ASCII before the @ (no control characters or spaces reach SNS), a DNS name after it.
        max_length=254,
        pattern=r"^[\x21-\x3f\x41-\x7e]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$",
    )


# ---- patient reminders (DESIGN 9) --------------------------------------------------------------------------------

MAX_TOKEN_LENGTH = 4096
"""An APNs token is 64 hex characters and an FCM registration token about 160; SNS takes tokens far below this."""


class DeviceIn(BaseModel):
    """A phone to push reminders to: its platform and the token the platform gave the app."""

    model_config = ConfigDict(extra="forbid")
    platform: Literal["apns", "fcm"]
    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_LENGTH, strict=True, pattern=r"^[\x21-\x7e]+$")]


class RemindersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool
