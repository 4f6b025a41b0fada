"""Analytes of a result (DESIGN 7): validation, conversion to the canonical unit, and the LOINC lookup.

Values are stored as sent (code, value, unit, the lab's low/high) and converted only when a rule compares
them, so a correction of a factor never rewrites stored facts. Validation reports every bad field at once,
each with the path the API names (``analytes[2].unit``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lemtrada.regimen.protocol import AnalyteSpec, Protocol
from lemtrada.regimen.records import Analyte, Result, ResultItem

ANALYTE_NOT_OF_ITEM = "analyte_not_of_item"
UNIT_NOT_ACCEPTED = "unit_not_accepted"
VALIDATION_ERROR = "validation_error"


@dataclass(frozen=True, slots=True)
class AnalyteError:
    """One bad field: ``code`` is the problem code (422), ``field`` the JSON path in the request body."""

    code: str
    field: str
    detail: str


class AnalytesRejected(Exception):
    """The analytes cannot be stored as sent: answer 422 with every error, store nothing."""

    def __init__(self, errors: tuple[AnalyteError, ...]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Measured:
    """An analyte in its canonical unit, with the reference limits that apply (the lab's, else the default)."""

    code: str
    value: float
    low: float | None
    high: float | None


def _bad_number(number: float) -> str | None:
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        return "must be a finite number"
    if number < 0:
        return "cannot be negative"
    return None


def analyte_errors(
    item: ResultItem,
    analytes: Sequence[Analyte],
    protocol: Protocol,
    *,
    value: float | None = None,
    unit: str | None = None,
) -> tuple[AnalyteError, ...]:
    """Every problem of a result's analytes (empty: valid). ``value``/``unit`` are the round-1 pair: for
    ``cd4`` they are the ``cd4`` analyte and are checked like one (fields ``value`` and ``unit``)."""
    errors: list[AnalyteError] = []
    seen: set[str] = set()
    if item == ResultItem.CD4 and value is not None:
        spec = protocol.analyte("cd4")
        assert spec is not None
        problem = _bad_number(value)
        if problem:
            errors.append(AnalyteError(VALIDATION_ERROR, "value", f"cd4 value {problem}"))
        if unit is not None and spec.factor(unit) is None:
            errors.append(AnalyteError(UNIT_NOT_ACCEPTED, "unit", _units_text(spec, unit)))
        seen.add("cd4")
    for index, analyte in enumerate(analytes):
        path = f"analytes[{index}]"
        spec = protocol.analyte(analyte.code)
        if spec is None or spec.item != item:
            where = "unknown analyte" if spec is None else f"belongs to {spec.item.value}"
            errors.append(AnalyteError(ANALYTE_NOT_OF_ITEM, f"{path}.code", f"{analyte.code}: {where}, not {item}"))
            continue
        if analyte.code in seen:
            errors.append(AnalyteError(VALIDATION_ERROR, f"{path}.code", f"{analyte.code} given twice in one result"))
            continue
        seen.add(analyte.code)
        if spec.factor(analyte.unit) is None:
            errors.append(AnalyteError(UNIT_NOT_ACCEPTED, f"{path}.unit", _units_text(spec, analyte.unit)))
        for name, number in (("value", analyte.value), ("low", analyte.low), ("high", analyte.high)):
            if number is None:
                continue
            problem = _bad_number(number)
            if problem:
                errors.append(AnalyteError(VALIDATION_ERROR, f"{path}.{name}", f"{analyte.code} {name} {problem}"))
        low, high = analyte.low, analyte.high
        if low is not None and high is not None and not _bad_number(low) and not _bad_number(high) and low > high:
            errors.append(AnalyteError(VALIDATION_ERROR, f"{path}.low", f"{analyte.code} low {low:g} > high {high:g}"))
    return tuple(errors)


def check_analytes(
    item: ResultItem,
    analytes: Sequence[Analyte],
    protocol: Protocol,
    *,
    value: float | None = None,
    unit: str | None = None,
) -> None:
    """Raise ``AnalytesRejected`` with every error, or return when the analytes may be stored."""
    errors = analyte_errors(item, analytes, protocol, value=value, unit=unit)
    if errors:
        raise AnalytesRejected(errors)


def _units_text(spec: AnalyteSpec, unit: str) -> str:
    accepted = ", ".join(u for u, _ in spec.units)
    return f"{spec.code} unit {unit!r} not accepted: one of {accepted}"


def result_analytes(result: Result) -> tuple[Analyte, ...]:
    """The analytes a rule reads: the stored list, plus the round-1 ``value``/``unit`` of a cd4 result
    (no unit: the canonical ``/uL``) when the list has no cd4 of its own."""
    if result.item == ResultItem.CD4 and result.value is not None and all(a.code != "cd4" for a in result.analytes):
        return (Analyte("cd4", result.value, result.unit or "/uL"), *result.analytes)
    return result.analytes


def to_canonical(analyte: Analyte, protocol: Protocol) -> Measured | None:
    """The analyte in its canonical unit with the limits that apply; None for an unknown code or unit
    (stored data is validated first, so None means a protocol revision dropped that unit)."""
    spec = protocol.analyte(analyte.code)
    if spec is None:
        return None
    factor = spec.factor(analyte.unit)
    if factor is None:
        return None
    low = analyte.low * factor if analyte.low is not None else spec.default_low
    high = analyte.high * factor if analyte.high is not None else spec.default_high
    return Measured(analyte.code, analyte.value * factor, low, high)


def measured(result: Result, protocol: Protocol) -> dict[str, Measured]:
    """Canonical values of a result by analyte code."""
    out: dict[str, Measured] = {}
    for analyte in result_analytes(result):
        value = to_canonical(analyte, protocol)
        if value is not None and analyte.code not in out:
            out[analyte.code] = value
    return out


def analyte_for_loinc(loinc: str, protocol: Protocol) -> tuple[ResultItem, str] | None:
    """(item, analyte code) for a LOINC code, for the lab interface (DESIGN 10); None when not monitored."""
    for spec in protocol.analytes:
        if loinc in spec.loinc:
            return spec.item, spec.code
    return None
