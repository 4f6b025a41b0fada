"""Safety findings from lab values (DESIGN 7): pure rules over a result and the record as of its date.

A result is judged against what came before it in time, never against what was typed in before it:
``findings_for`` reads only results and infusions dated on or before the result's date, so a result
typed in late is judged as it would have been on its day. Results on the same date are ordered by
``result_id`` where an order is needed (a pair finding is raised on the later of the pair).

Findings are stored with their result and never removed by later data; ``new_findings`` gives what a
newly stored result adds, to itself and to results dated on or after it (whose history just changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, timedelta

from lemtrada.regimen.analytes import Measured, measured
from lemtrada.regimen.history import is_history
from lemtrada.regimen.protocol import FindingThresholds, Protocol
from lemtrada.regimen.records import LabFinding, PatientRecord, Result, ResultItem


def finding_id(result_id: str, code: str) -> str:
    """``<result_id>:<code>``: unique within the patient (result ids are; a code is raised once per result)
    and the same whenever the rules are run again, so re-running them never duplicates a finding."""
    return f"{result_id}:{code}"


def _order(result: Result) -> tuple[date, str]:
    return (result.date, result.result_id)


def _history(result: Result, record: PatientRecord) -> list[Result]:
    """Results dated on or before ``result`` (``result`` itself included once), in (date, id) order."""
    others = [r for r in record.results if r.date <= result.date and r.result_id != result.result_id]
    return sorted([*others, result], key=_order)


def _value(result: Result, code: str, protocol: Protocol) -> Measured | None:
    return measured(result, protocol).get(code)


def _values_on(results: Iterable[Result], code: str, protocol: Protocol) -> dict[date, list[float]]:
    by_day: dict[date, list[float]] = {}
    for result in results:
        value = _value(result, code, protocol)
        if value is not None:
            by_day.setdefault(result.date, []).append(value.value)
    return by_day


def previous_platelets(result: Result, record: PatientRecord, protocol: Protocol) -> float | None:
    """The latest platelets value dated strictly before the result (same-date samples are not history);
    several on that date: the highest, so a halving is never missed.

    Read from the latest date backwards, stopping at the first date with a value: a record's results are kept in
    date order, so this costs the few results after that date, not the whole history (an enrollment replays a
    history result by result). Platelets are a cbc analyte (DESIGN 7 refuses an analyte of another item)."""
    found: date | None = None
    best = 0.0
    for other in _newest_first(record):
        if found is not None and other.date < found:
            break
        if other.date >= result.date or other.item != ResultItem.CBC:
            continue
        value = _value(other, "platelets", protocol)
        if value is not None:
            found = other.date
            best = max(best, value.value)
    return None if found is None else best


def _newest_first(record: PatientRecord) -> Iterable[Result]:
    results = record.results
    ordered = all(results[i].date <= results[i + 1].date for i in range(len(results) - 1))
    return reversed(results) if ordered else sorted(results, key=_order, reverse=True)


def creatinine_baseline(result: Result, record: PatientRecord, protocol: Protocol) -> float | None:
    """The latest creatinine dated on or before T0; without one (or before T0 exists), the first recorded.

    Read as of the result's date: T0 is the first infusion dated on or before it. Several values on the
    baseline date: the lowest, so a rise is never missed.
    """
    # Creatinine is the creatinine item's analyte (DESIGN 7 refuses an analyte of another item). Only the values
    # of the baseline date are measured: from T0 backwards, else from the first result forwards (an enrollment
    # replays a history result by result, so a scan that measured every value would grow with its square).
    candidates = sorted(
        (
            *(
                r
                for r in record.results
                if r.item == ResultItem.CREATININE and r.date <= result.date and r.result_id != result.result_id
            ),
            result,
        ),
        key=_order,
    )
    infused = [i.date for i in record.infusions if i.date <= result.date]
    if infused:
        t0 = min(infused)
        found = _first_day_values(reversed([r for r in candidates if r.date <= t0]), protocol)
        if found:
            return min(found)
    found = _first_day_values(candidates, protocol)
    return min(found) if found else None


def _first_day_values(results: Iterable[Result], protocol: Protocol) -> list[float]:
    """The creatinine values of the first date (in the order given) that has any."""
    day: date | None = None
    values: list[float] = []
    for other in results:
        if day is not None and other.date != day:
            break
        value = _value(other, "creatinine", protocol)
        if value is not None:
            day = other.date
            values.append(value.value)
    return values


def _creatinine_rise(result: Result, record: PatientRecord, protocol: Protocol) -> str | None:
    value = _value(result, "creatinine", protocol)
    if value is None:
        return None
    baseline = creatinine_baseline(result, record, protocol)
    ratio = protocol.thresholds.creatinine_rise_ratio
    if baseline is None or baseline <= 0 or value.value < ratio * baseline:
        return None
    return f"creatinine {value.value:g} umol/L >= {ratio:g} x baseline {baseline:g} umol/L"


def _hematuria(result: Result, protocol: Protocol) -> str | None:
    value = _value(result, "urine_rbc", protocol)
    limit = protocol.thresholds.hematuria_rbc
    if value is None or value.value < limit:
        return None
    return f"urine_rbc {value.value:g} /[HPF] >= {limit:g}"


def _transaminases(values: dict[str, Measured], limits: FindingThresholds) -> list[str]:
    out = []
    for code in ("alt", "ast"):
        value = values.get(code)
        if value is not None and value.high is not None and value.value > limits.transaminase_uln_multiple * value.high:
            out.append(f"{code} {value.value:g} U/L > {limits.transaminase_uln_multiple:g} x {value.high:g}")
    return out


def _bilirubin(values: dict[str, Measured], limits: FindingThresholds) -> str | None:
    value = values.get("bilirubin_total")
    if value is None or value.high is None or value.value <= limits.bilirubin_uln_multiple * value.high:
        return None
    return f"bilirubin_total {value.value:g} umol/L > {limits.bilirubin_uln_multiple:g} x {value.high:g}"


def _hys(results: Sequence[Result], protocol: Protocol) -> tuple[list[str], list[str]]:
    """Transaminase and bilirubin conditions met across liver results of one date."""
    trans: list[str] = []
    bili: list[str] = []
    for result in results:
        values = measured(result, protocol)
        trans.extend(_transaminases(values, protocol.thresholds))
        found = _bilirubin(values, protocol.thresholds)
        if found:
            bili.append(found)
    return trans, bili


def _renal_partner(result: Result, record: PatientRecord, protocol: Protocol, *, has_rise: bool) -> Result | None:
    """A result ordered before ``result`` (within the pair window) with the other half of the pair."""
    window = timedelta(days=protocol.thresholds.renal_pair_days)
    wanted = ResultItem.URINALYSIS if has_rise else ResultItem.CREATININE
    candidates = [
        r for r in record.results if r.item == wanted and _order(r) < _order(result) and result.date - r.date <= window
    ]
    for other in sorted(candidates, key=_order, reverse=True):
        half = _hematuria(other, protocol) if has_rise else _creatinine_rise(other, record, protocol)
        if half:
            return other
    return None


def _bound(limit: float | None) -> str:
    return "none" if limit is None else f"{limit:g}"


def findings_for(result: Result, record: PatientRecord, protocol: Protocol) -> tuple[LabFinding, ...]:
    """Every finding the rules raise on ``result``, judged against ``record`` as of the result's date.

    ``result`` need not be in ``record`` yet. Results and infusions dated after it are never read.
    """
    limits = protocol.thresholds
    values = measured(result, protocol)
    raised: list[tuple[str, str]] = []

    platelets = values.get("platelets")
    if platelets is not None:
        p = platelets.value
        if p < limits.platelets_critical:
            raised.append(("platelets_below_100", f"platelets {p:g} x10^9/L < {limits.platelets_critical:g}"))
        elif platelets.low is not None and p < platelets.low:
            raised.append(("platelets_below_range", f"platelets {p:g} x10^9/L < low {platelets.low:g}"))
        previous = previous_platelets(result, record, protocol)
        if p >= limits.platelets_critical and previous is not None and p <= limits.platelets_halved_ratio * previous:
            raised.append(("platelets_halved", f"platelets {p:g} x10^9/L <= 50% of the previous {previous:g}"))

    neutrophils = values.get("neutrophils")
    if neutrophils is not None:
        n = neutrophils.value
        if n < limits.neutrophils_critical:
            raised.append(("neutrophils_below_0_5", f"neutrophils {n:g} x10^9/L < {limits.neutrophils_critical:g}"))
        elif n < limits.neutrophils_low:
            raised.append(("neutrophils_below_1_0", f"neutrophils {n:g} x10^9/L < {limits.neutrophils_low:g}"))

    rise = _creatinine_rise(result, record, protocol)
    if rise:
        raised.append(("creatinine_rise", rise))
    blood = _hematuria(result, protocol)
    if blood:
        raised.append(("hematuria", blood))
    if rise or blood:
        partner = _renal_partner(result, record, protocol, has_rise=bool(rise))
        if partner is not None:
            other = "hematuria" if rise else "creatinine_rise"
            raised.append(
                (
                    "renal_autoimmunity_suspected",
                    f"{'creatinine_rise' if rise else 'hematuria'} on {result.date} and {other} on {partner.date}",
                )
            )

    tsh = values.get("tsh")
    if tsh is not None:
        t = tsh.value
        if (tsh.low is not None and t < tsh.low) or (tsh.high is not None and t > tsh.high):
            raised.append(("tsh_out_of_range", f"tsh {t:g} m[IU]/L outside {_bound(tsh.low)}-{_bound(tsh.high)}"))

    transaminases = _transaminases(values, limits)
    if transaminases:
        raised.append(("transaminases_above_3x_uln", "; ".join(transaminases)))
    if result.item == ResultItem.LIVER:
        earlier = [
            r
            for r in record.results
            if r.item == ResultItem.LIVER and r.date == result.date and _order(r) < _order(result)
        ]
        trans, bili = _hys([*earlier, result], protocol)
        before = _hys(earlier, protocol)
        if trans and bili and not (before[0] and before[1]):
            raised.append(("hys_law", f"{'; '.join(trans)}; {'; '.join(bili)} on {result.date}"))

    return tuple(
        LabFinding(
            finding_id=finding_id(result.result_id, code),
            result_id=result.result_id,
            date=result.date,
            code=code,
            severity=protocol.severity(code),
            detail=detail,
            source=protocol.source(code),
        )
        for code, detail in raised
    )


def new_findings(record: PatientRecord, since: date, protocol: Protocol) -> tuple[LabFinding, ...]:
    """Findings not yet stored on results dated on or after ``since`` (the date of a newly stored result).

    A result typed in late changes the history of every result dated on or after it: this returns what each
    of them raises now and does not already carry, so the caller stores the new result's findings and adds
    the others to their results. Stored findings are never taken away (a finding seen stays until
    acknowledged), which is why adding a result never removes one.
    """
    out: list[LabFinding] = []
    for result in sorted((r for r in record.results if r.date >= since), key=_order):
        stored = {f.finding_id for f in result.findings}
        out.extend(f for f in findings_for(result, record, protocol) if f.finding_id not in stored)
    return tuple(out)


def with_findings(record: PatientRecord, findings: Iterable[LabFinding]) -> PatientRecord:
    """The record with ``findings`` attached to their results (already stored ids are skipped)."""
    by_result: dict[str, list[LabFinding]] = {}
    for found in findings:
        by_result.setdefault(found.result_id, []).append(found)
    if not by_result:
        return record
    results = []
    for result in record.results:
        extra = by_result.get(result.result_id)
        stored = {f.finding_id for f in result.findings}
        fresh = tuple(f for f in extra or () if f.finding_id not in stored)
        results.append(replace(result, findings=(*result.findings, *fresh)) if fresh else result)
    return replace(record, results=tuple(results))


def add_result(
    record: PatientRecord, result: Result, protocol: Protocol
) -> tuple[PatientRecord, tuple[LabFinding, ...]]:
    """Add ``result`` to the record and raise what it brings: (the new record, the findings added).

    The findings added may sit on other results (dated on or after ``result``); each names its result_id.
    """
    results = tuple(sorted((*record.results, result), key=_order))
    added = replace(record, results=results)
    found = new_findings(added, result.date, protocol)
    return with_findings(added, found), found


def all_findings(record: PatientRecord) -> tuple[LabFinding, ...]:
    """Every stored finding, in (date, result_id, code order of the rules) order."""
    return tuple(f for r in sorted(record.results, key=_order) for f in r.findings)


def finding_is_open(found: LabFinding, enrolled_on: date) -> bool:
    """Neither acknowledged nor history (DESIGN 8: a finding dated more than 30 days before enrollment is stored
    and shown, never open)."""
    return not found.acknowledged and not is_history(found.date, enrolled_on)


def open_findings(record: PatientRecord, as_of: date | None = None) -> tuple[LabFinding, ...]:
    """Unacknowledged findings that are not history (of results dated on or before ``as_of`` when given):
    ``open_findings``."""
    enrolled_on = record.profile.enrollment.enrolled_on
    return tuple(
        f for f in all_findings(record) if finding_is_open(f, enrolled_on) and (as_of is None or f.date <= as_of)
    )


def history_findings(record: PatientRecord) -> tuple[LabFinding, ...]:
    """Stored findings that are history and not yet acknowledged: what enrollment stores acknowledged with action
    ``history`` (DESIGN 8)."""
    enrolled_on = record.profile.enrollment.enrolled_on
    return tuple(f for f in all_findings(record) if not f.acknowledged and is_history(f.date, enrolled_on))


def open_critical_findings(record: PatientRecord, as_of: date | None = None) -> tuple[LabFinding, ...]:
    """What the readiness blocker ``open_critical_finding`` reads."""
    return tuple(f for f in open_findings(record, as_of) if f.open_critical)
