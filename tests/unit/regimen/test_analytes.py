"""Analytes (DESIGN 7): the table as protocol data, validation with field paths, conversion, LOINC lookup."""

from __future__ import annotations

import math

import pytest
from lemtrada.regimen import (
    EU_PROTOCOL,
    US_PROTOCOL,
    AnalytesRejected,
    analyte_errors,
    analyte_for_loinc,
    check_analytes,
    measured,
    result_analytes,
    to_canonical,
)
from lemtrada.regimen.records import Analyte, Result, ResultItem

from .helpers import D

# DESIGN 7's table, written out once more by hand: item, code, canonical unit, other units with factor, LOINC.
TABLE: list[tuple[str, str, str, dict[str, float], tuple[str, ...]]] = [
    ("cbc", "platelets", "10*9/L", {"10*3/uL": 1, "/nL": 1}, ("777-3",)),
    ("cbc", "neutrophils", "10*9/L", {"10*3/uL": 1}, ("751-8",)),
    ("cbc", "lymphocytes", "10*9/L", {"10*3/uL": 1}, ("731-0",)),
    ("cbc", "wbc", "10*9/L", {"10*3/uL": 1}, ("6690-2",)),
    ("cbc", "hemoglobin", "g/L", {"g/dL": 10}, ("718-7",)),
    ("creatinine", "creatinine", "umol/L", {"mg/dL": 88.42}, ("14682-9", "2160-0")),
    ("urinalysis", "urine_rbc", "/[HPF]", {}, ("13945-1",)),
    ("urinalysis", "urine_protein", "mg/dL", {}, ("2888-6",)),
    ("thyroid", "tsh", "m[IU]/L", {"u[IU]/mL": 1}, ("3016-3",)),
    ("thyroid", "free_t4", "pmol/L", {"ng/dL": 12.87}, ("14920-3", "3024-7")),
    ("liver", "alt", "U/L", {"[IU]/L": 1}, ("1742-6",)),
    ("liver", "ast", "U/L", {"[IU]/L": 1}, ("1920-8",)),
    ("liver", "bilirubin_total", "umol/L", {"mg/dL": 17.1}, ("14631-6", "1975-2")),
    ("urine_protein_creatinine", "upcr", "mg/g", {"mg/mmol": 8.84}, ("2890-2",)),
    ("cd4", "cd4", "/uL", {"10*6/L": 1, "cells/uL": 1}, ("24467-3",)),
]


def test_protocol_holds_exactly_the_table() -> None:
    for protocol in (US_PROTOCOL, EU_PROTOCOL):
        got = [
            (s.item.value, s.code, s.canonical_unit, dict(s.units[1:]), s.loinc, s.units[0]) for s in protocol.analytes
        ]
        assert got == [(*row, (row[2], 1.0)) for row in TABLE]


@pytest.mark.parametrize(
    ("code", "low", "high"),
    [
        ("platelets", 150.0, None),
        ("tsh", 0.4, 4.0),
        ("alt", None, 40.0),
        ("ast", None, 40.0),
        ("bilirubin_total", None, 21.0),
        ("neutrophils", None, None),
        ("creatinine", None, None),
    ],
)
def test_default_reference_limits(code: str, low: float | None, high: float | None) -> None:
    spec = US_PROTOCOL.analyte(code)
    assert spec is not None
    assert (spec.default_low, spec.default_high) == (low, high)


CONVERSIONS = [(item, code, unit, factor) for item, code, _, units, _ in TABLE for unit, factor in units.items()]
CONVERSIONS += [(item, code, canonical, 1) for item, code, canonical, _, _ in TABLE]


@pytest.mark.parametrize(("item", "code", "unit", "factor"), CONVERSIONS, ids=str)
def test_every_accepted_unit_converts_with_its_factor(item: str, code: str, unit: str, factor: float) -> None:
    sent = Analyte(code, 2.5, unit, low=1.0, high=3.0)
    assert analyte_errors(ResultItem(item), [sent], US_PROTOCOL) == ()
    value = to_canonical(sent, US_PROTOCOL)
    assert value is not None
    assert math.isclose(value.value, 2.5 * factor)
    assert value.low is not None
    assert math.isclose(value.low, 1.0 * factor)
    assert value.high is not None
    assert math.isclose(value.high, 3.0 * factor)


def test_creatinine_in_mg_dl_and_bilirubin_in_mg_dl() -> None:
    creatinine = to_canonical(Analyte("creatinine", 1.0, "mg/dL"), US_PROTOCOL)
    assert creatinine is not None
    assert math.isclose(creatinine.value, 88.42)
    bilirubin = to_canonical(Analyte("bilirubin_total", 2.0, "mg/dL"), US_PROTOCOL)
    assert bilirubin is not None
    assert math.isclose(bilirubin.value, 34.2)
    assert bilirubin.high == 21.0  # the default, in the canonical unit, when the lab sends none


def test_lab_limits_replace_the_default_bound_by_bound() -> None:
    tsh = to_canonical(Analyte("tsh", 2.0, "u[IU]/mL", high=5.0), US_PROTOCOL)
    assert tsh is not None
    assert (tsh.low, tsh.high) == (0.4, 5.0)


def _codes(errors: tuple[object, ...]) -> list[tuple[str, str]]:
    return [(e.code, e.field) for e in errors]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("item", "analytes", "expected"),
    [
        (ResultItem.CBC, [Analyte("tsh", 1.0, "m[IU]/L")], [("analyte_not_of_item", "analytes[0].code")]),
        (ResultItem.CBC, [Analyte("ferritin", 1.0, "ug/L")], [("analyte_not_of_item", "analytes[0].code")]),
        (ResultItem.SKIN_EXAM, [Analyte("platelets", 1.0, "10*9/L")], [("analyte_not_of_item", "analytes[0].code")]),
        (
            ResultItem.CBC,
            [Analyte("wbc", 5.0, "10*9/L"), Analyte("hemoglobin", 5.0, "10*9/L")],
            [("unit_not_accepted", "analytes[1].unit")],
        ),
        (ResultItem.CREATININE, [Analyte("creatinine", 80.0, "umol/l")], [("unit_not_accepted", "analytes[0].unit")]),
        (ResultItem.CBC, [Analyte("platelets", math.nan, "10*9/L")], [("validation_error", "analytes[0].value")]),
        (ResultItem.CBC, [Analyte("platelets", math.inf, "10*9/L")], [("validation_error", "analytes[0].value")]),
        (ResultItem.CBC, [Analyte("platelets", -1.0, "10*9/L")], [("validation_error", "analytes[0].value")]),
        (ResultItem.CBC, [Analyte("platelets", 0.0, "10*9/L")], []),
        (ResultItem.CBC, [Analyte("platelets", 200.0, "10*9/L", low=-1.0)], [("validation_error", "analytes[0].low")]),
        (
            ResultItem.CBC,
            [Analyte("platelets", 200.0, "10*9/L", high=math.inf)],
            [("validation_error", "analytes[0].high")],
        ),
        (
            ResultItem.CBC,
            [Analyte("platelets", 200.0, "10*9/L", low=450.0, high=150.0)],
            [("validation_error", "analytes[0].low")],
        ),
        (ResultItem.CBC, [Analyte("platelets", 200.0, "10*9/L", low=150.0, high=150.0)], []),
        (
            ResultItem.CBC,
            [Analyte("platelets", 200.0, "10*9/L"), Analyte("wbc", 5.0, "10*9/L"), Analyte("platelets", 1.0, "/nL")],
            [("validation_error", "analytes[2].code")],
        ),
        (
            ResultItem.LIVER,
            [Analyte("alt", -3.0, "mmol/L"), Analyte("tsh", 1.0, "m[IU]/L")],
            [
                ("unit_not_accepted", "analytes[0].unit"),
                ("validation_error", "analytes[0].value"),
                ("analyte_not_of_item", "analytes[1].code"),
            ],
        ),
    ],
)
def test_validation_names_every_bad_field(
    item: ResultItem, analytes: list[Analyte], expected: list[tuple[str, str]]
) -> None:
    errors = analyte_errors(item, analytes, US_PROTOCOL)
    assert _codes(errors) == expected
    assert all(e.detail for e in errors)
    if expected:
        with pytest.raises(AnalytesRejected) as raised:
            check_analytes(item, analytes, US_PROTOCOL)
        assert raised.value.errors == errors
    else:
        check_analytes(item, analytes, US_PROTOCOL)


def test_round_one_value_and_unit_of_cd4_is_the_cd4_analyte() -> None:
    old = Result("r1", ResultItem.CD4, D("2024-03-01"), value=250.0, unit="cells/uL")
    assert result_analytes(old) == (Analyte("cd4", 250.0, "cells/uL"),)
    bare = Result("r2", ResultItem.CD4, D("2024-03-01"), value=250.0)
    assert measured(bare, US_PROTOCOL)["cd4"].value == 250.0
    assert analyte_errors(ResultItem.CD4, [], US_PROTOCOL, value=250.0, unit="cells/uL") == ()
    assert _codes(analyte_errors(ResultItem.CD4, [], US_PROTOCOL, value=250.0, unit="cells/mm3")) == [
        ("unit_not_accepted", "unit")
    ]
    assert _codes(analyte_errors(ResultItem.CD4, [], US_PROTOCOL, value=-2.0)) == [("validation_error", "value")]
    both = [Analyte("cd4", 250.0, "/uL")]
    assert _codes(analyte_errors(ResultItem.CD4, both, US_PROTOCOL, value=250.0)) == [
        ("validation_error", "analytes[0].code")
    ]
    # value/unit on another item keeps its round-1 meaning: free text, not an analyte.
    assert analyte_errors(ResultItem.CBC, [], US_PROTOCOL, value=3.0, unit="anything") == ()
    assert result_analytes(Result("r3", ResultItem.CBC, D("2024-03-01"), value=3.0)) == ()


@pytest.mark.parametrize(
    ("loinc", "expected"),
    [(row_loinc, (ResultItem(item), code)) for item, code, _, _, loincs in TABLE for row_loinc in loincs],
)
def test_loinc_lookup(loinc: str, expected: tuple[ResultItem, str]) -> None:
    assert analyte_for_loinc(loinc, US_PROTOCOL) == expected


def test_unknown_loinc() -> None:
    assert analyte_for_loinc("2345-7", US_PROTOCOL) is None  # glucose: not monitored
