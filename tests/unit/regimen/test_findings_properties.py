"""Properties of the safety findings over random lab histories typed in random order (DESIGN 7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lemtrada.regimen import US_PROTOCOL, add_result, findings_for, open_findings
from lemtrada.regimen.records import Analyte, PatientRecord, Result, ResultItem

from .helpers import treated

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = treated("2024-03-04")  # T0 = 2024-03-04: creatinine baselines depend on it
BASE = replace(BASE, results=())
FIRST = date(2024, 1, 1)

# Ranges (in tenths) that straddle every threshold of the rules.
RANGES: dict[ResultItem, tuple[tuple[str, int, int], ...]] = {
    ResultItem.CBC: (("platelets", 100, 4000), ("neutrophils", 1, 40)),
    ResultItem.CREATININE: (("creatinine", 400, 2000),),
    ResultItem.URINALYSIS: (("urine_rbc", 0, 80),),
    ResultItem.THYROID: (("tsh", 1, 70),),
    ResultItem.LIVER: (("alt", 100, 2500), ("ast", 100, 2500), ("bilirubin_total", 50, 700)),
}
# Values at and around each threshold (and pairs that halve or rise by 1.5), drawn half of the time.
POINTS: dict[str, tuple[float, ...]] = {
    "platelets": (99.9, 100.0, 120.0, 149.9, 150.0, 200.0, 240.0, 300.0, 400.0),
    "neutrophils": (0.49, 0.5, 0.99, 1.0, 2.0),
    "creatinine": (60.0, 80.0, 89.9, 90.0, 119.9, 120.0, 135.0),
    "urine_rbc": (0.0, 2.9, 3.0, 8.0),
    "tsh": (0.39, 0.4, 4.0, 4.01),
    "alt": (40.0, 120.0, 120.1, 200.0),
    "ast": (40.0, 120.0, 120.1, 200.0),
    "bilirubin_total": (20.0, 42.0, 42.1, 60.0),
}
ITEMS: tuple[ResultItem, ...] = (ResultItem.CBC, ResultItem.CBC, ResultItem.CREATININE, ResultItem.CREATININE)
ITEMS += (ResultItem.URINALYSIS, ResultItem.THYROID, ResultItem.LIVER)
NORMAL: dict[ResultItem, tuple[tuple[str, float], ...]] = {
    ResultItem.CBC: (("platelets", 250.0), ("neutrophils", 3.0)),
    ResultItem.CREATININE: (("creatinine", 70.0),),
    ResultItem.URINALYSIS: (("urine_rbc", 0.0),),
    ResultItem.THYROID: (("tsh", 1.5),),
    ResultItem.LIVER: (("alt", 20.0), ("ast", 20.0), ("bilirubin_total", 10.0)),
}


@st.composite
def sent_analyte(draw: st.DrawFn, code: str, low: int, high: int) -> tuple[Analyte, Analyte]:
    """The same measurement twice: in a randomly chosen accepted unit, and in the canonical unit."""
    spec = US_PROTOCOL.analyte(code)
    assert spec is not None
    unit, factor = draw(st.sampled_from(spec.units))
    canonical_value = draw(st.sampled_from(POINTS[code]) | st.integers(low, high).map(lambda v: v / 10))
    value = canonical_value / factor
    lab_high = draw(st.none() | st.none() | st.integers(1, 60).map(float))
    sent = Analyte(code, value, unit, high=None if lab_high is None else lab_high / factor)
    canonical = Analyte(
        code, value * factor, spec.canonical_unit, high=None if sent.high is None else sent.high * factor
    )
    if code in ("platelets", "tsh", "neutrophils"):  # a lab high only matters for the liver and tsh
        sent, canonical = replace(sent, high=None), replace(canonical, high=None)
    return sent, canonical


@st.composite
def history(draw: st.DrawFn) -> tuple[list[Result], list[Result]]:
    """Up to 10 results (same dates likely), each in sent units and in canonical units."""
    count = draw(st.integers(2, 12))
    days = draw(st.lists(st.integers(0, 160), min_size=1, max_size=6))  # few dates: ties and near pairs
    sent: list[Result] = []
    canonical: list[Result] = []
    for index in range(count):
        item = draw(st.sampled_from(ITEMS))
        day = FIRST + timedelta(days=draw(st.sampled_from(days)))
        pairs = [draw(sent_analyte(code, low, high)) for code, low, high in RANGES[item]]
        rid = f"r{draw(st.integers(0, 99)):02d}{index}"
        sent.append(Result(rid, item, day, analytes=tuple(p[0] for p in pairs)))
        canonical.append(Result(rid, item, day, analytes=tuple(p[1] for p in pairs)))
    return sent, canonical


def typed(results: list[Result], order: list[int]) -> PatientRecord:
    record = BASE
    for index in order:
        record, _ = add_result(record, results[index], US_PROTOCOL)
    return record


def codes(result: Result, record: PatientRecord) -> list[str]:
    return [f.code for f in findings_for(result, record, US_PROTOCOL)]


@SETTINGS
@given(history())
def test_a_finding_never_depends_on_results_dated_after_its_result(data: tuple[list[Result], list[Result]]) -> None:
    results, _ = data
    record = replace(BASE, results=tuple(results))
    for result in results:
        as_of = replace(
            record,
            results=tuple(r for r in results if r.date <= result.date),
            infusions=tuple(i for i in BASE.infusions if i.date <= result.date),
        )
        assert findings_for(result, record, US_PROTOCOL) == findings_for(result, as_of, US_PROTOCOL)


@SETTINGS
@given(history())
def test_the_same_values_in_another_accepted_unit_give_the_same_findings(
    data: tuple[list[Result], list[Result]],
) -> None:
    sent, canonical = data
    in_sent = replace(BASE, results=tuple(sent))
    in_canonical = replace(BASE, results=tuple(canonical))
    for one, other in zip(sent, canonical, strict=True):
        assert codes(one, in_sent) == codes(other, in_canonical)


@SETTINGS
@given(history(), st.randoms(use_true_random=False))
def test_typing_order_never_loses_a_finding(data: tuple[list[Result], list[Result]], rng: object) -> None:
    """Whatever order results are typed in, each result carries every finding it raises against the whole
    record (late-typed history reaches results already stored)."""
    results, _ = data
    order = list(range(len(results)))
    rng.shuffle(order)  # type: ignore[attr-defined]
    record = typed(results, order)
    full = replace(BASE, results=tuple(r for r in record.results))
    for result in record.results:
        stored = {f.finding_id for f in result.findings}
        assert {f.finding_id for f in findings_for(result, full, US_PROTOCOL)} <= stored
    in_date_order = typed(results, sorted(order, key=lambda i: (results[i].date, results[i].result_id)))
    assert {f.finding_id for f in open_findings(in_date_order)} <= {f.finding_id for f in open_findings(record)}


@SETTINGS
@given(
    history(),
    st.sampled_from(sorted(NORMAL)),
    st.integers(0, 170),
    st.randoms(use_true_random=False),
)
def test_adding_a_normal_result_never_removes_a_finding(
    data: tuple[list[Result], list[Result]], item: ResultItem, offset: int, rng: object
) -> None:
    results, _ = data
    order = list(range(len(results)))
    rng.shuffle(order)  # type: ignore[attr-defined]
    record = typed(results, order)
    day = FIRST + timedelta(days=offset)
    normal = Result(
        "normal",
        item,
        day,
        analytes=tuple(Analyte(code, value, US_PROTOCOL.analyte(code).canonical_unit) for code, value in NORMAL[item]),  # type: ignore[union-attr]
    )
    after, added = add_result(record, normal, US_PROTOCOL)
    before_ids = {f.finding_id for f in open_findings(record)}
    assert before_ids <= {f.finding_id for f in open_findings(after)}
    unchanged = {r.result_id: r.findings for r in record.results if r.date < day}
    assert unchanged == {r.result_id: r.findings for r in after.results if r.date < day}
    assert all(f.date >= day for f in added)
