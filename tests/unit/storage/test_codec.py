"""Record -> DynamoDB items -> record is the identity (property test over the codec, no AWS involved)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from lemtrada.regimen.records import (
    Analyte,
    Contraindication,
    Deviation,
    Diagnosis,
    Enrollment,
    Infusion,
    InfusionRoute,
    LabFinding,
    PatientProfile,
    PatientRecord,
    PregnancyEpisode,
    Result,
    ResultItem,
    Severity,
    Sex,
)
from lemtrada.storage import keys
from lemtrada.storage.codec import patient_from_items, patient_items
from lemtrada.storage.packing import marks_from_item, result_entry, result_from_entry
from lemtrada.storage.ports import Acknowledgement, StoredPatient

from tests.unit.storage import factories as f

chars = st.characters(exclude_categories=["Cs"])  # surrogates cannot be UTF-8 encoded
texts = st.text(alphabet=chars, max_size=20)
ids = st.text(alphabet=chars, min_size=1, max_size=20)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
)
times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones)
numbers = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
small_ints = st.integers(min_value=0, max_value=10_000)

deviations = st.builds(Deviation, code=ids, severity=st.sampled_from(Severity), detail=st.none() | texts)


@st.composite
def infusions(draw: st.DrawFn) -> tuple[Infusion, ...]:
    chosen = sorted(draw(st.sets(days, max_size=6)))
    return tuple(
        Infusion(
            date=day,
            dose_mg=draw(numbers),
            diluted_at=draw(times),
            started_at=draw(times),
            ended_at=draw(times),
            route=draw(st.sampled_from(InfusionRoute)),
            co_infused=draw(st.booleans()),
            methylprednisolone_mg=draw(numbers),
            antiviral_prophylaxis=draw(st.booleans()),
            course=draw(small_ints),
            day=draw(small_ints),
            observation_minutes=draw(st.none() | small_ints),
            batch_number=draw(st.none() | texts),
            deviations=tuple(draw(st.lists(deviations, max_size=3))),
        )
        for day in chosen
    )


analytes = st.builds(
    Analyte,
    code=ids,
    value=numbers,
    unit=texts,
    low=st.none() | numbers,
    high=st.none() | numbers,
)


@st.composite
def results(draw: st.DrawFn) -> tuple[Result, ...]:
    keys = sorted(draw(st.sets(st.tuples(days, ids), max_size=6)))
    out = []
    for day, result_id in keys:
        codes = draw(st.lists(ids, unique=True, max_size=3))
        findings = tuple(
            LabFinding(
                f"{result_id}:{code}", result_id, day, code, draw(st.sampled_from(Severity)), draw(texts), draw(texts)
            )
            for code in codes
        )
        out.append(
            Result(
                result_id=result_id,
                item=draw(st.sampled_from(ResultItem)),
                date=day,
                value=draw(st.none() | numbers),
                unit=draw(st.none() | texts),
                status=draw(st.none() | texts),
                analytes=tuple(draw(st.lists(analytes, max_size=3))),
                findings=findings,
            )
        )
    return tuple(out)


acknowledgements = st.lists(
    st.builds(
        Acknowledgement,
        kind=st.sampled_from(["deviation", "occurrence"]),
        ref=ids,
        action=texts,
        by=ids,
        at=times,
    ),
    max_size=3,
    unique_by=lambda ack: (ack.kind, ack.ref),
).map(lambda acks: tuple(sorted(acks, key=lambda ack: (ack.kind, ack.ref))))


enrollments = st.builds(
    Enrollment,
    birth_date=days,
    sex=st.sampled_from(Sex),
    reproductive_potential=st.booleans(),
    diagnosis=st.sampled_from(Diagnosis),
    prior_dmt_count=small_ints,
    contraindications=st.frozensets(st.sampled_from(Contraindication)),
    enrolled_on=days,
    justification=st.none() | texts,
    rapidly_evolving_severe=st.booleans(),
)
profiles = st.builds(
    PatientProfile,
    patient_id=ids,
    clinic_id=ids,
    enrollment=enrollments,
    warnings=st.lists(texts, max_size=3).map(tuple),
    pregnancies=st.lists(st.builds(PregnancyEpisode, reported_on=days, ended_on=st.none() | days), max_size=3).map(
        tuple
    ),
    active_infection=st.booleans(),
    withdrawn_on=st.none() | days,
)
patients = st.builds(
    StoredPatient,
    record=st.builds(PatientRecord, profile=profiles, infusions=infusions(), results=results()),
    version=st.integers(min_value=1, max_value=10**9),
    enrolled_at=times,
    patient_sub=st.none() | ids,
    external_ref=st.none() | texts,
    next_check=st.none() | days,
    swept_through=st.none() | days,
    sent_notices=st.frozensets(ids, max_size=5),
    acknowledgements=acknowledgements,
)


@settings(max_examples=300, deadline=None)
@given(patients)
def test_record_to_items_to_record_is_identity(patient: StoredPatient) -> None:
    raw = patient_items(patient, 16)
    # DynamoDB returns a partition's items ordered by sort key; a Query would hand them back so.
    raw.sort(key=lambda data: data["sk"]["S"].encode("utf-8"))
    back = patient_from_items(raw)
    assert back == patient
    assert back is not None
    assert [type(i.dose_mg) for i in back.record.infusions] == [float] * len(back.record.infusions)
    assert all(isinstance(r.value, float) for r in back.record.results if r.value is not None)


def test_profile_item_is_compact() -> None:
    patient = f.stored(next_check=date(2026, 2, 1), sub="user-1")
    data = patient_items(patient, 16)[0]
    long_names = {name for name in data if len(name) > 3}
    assert long_names <= {"version", "patient_id", "clinic_id", "clinic_key", "due_shard", "next_check"}


def test_engine_notice_keys_are_stored_without_the_patient_id() -> None:
    pid = "0123456789abcdef0123456789abcdef"
    engine_keys = [
        f"{pid}#occurrence#cbc#3#due",
        f"{pid}#milestone#course_1_complete#2026-01-12",
        f"{pid}#deviation#late#2026-01-10",
        "someone-else#occurrence#cbc#1#due",
        f"{pid}#other#x",
        f"{pid}#occurrence",
    ]
    names = [keys.notice_name(pid, key) for key in engine_keys]
    assert names[:3] == ["o#cbc#3#due", "m#course_1_complete#2026-01-12", "d#late#2026-01-10"]
    assert all(name.startswith("=") for name in names[3:])
    assert [keys.notice_key(pid, name) for name in names] == engine_keys


def test_results_and_marks_are_packed_into_few_small_items() -> None:
    pid = "0123456789abcdef0123456789abcdef"
    results = tuple(
        Result(f"r{n:011d}", ResultItem.CBC, date(2024, 1, 1) + timedelta(days=7 * n), 4.5, "10^9/L", None)
        for n in range(150)
    )
    sent = frozenset(f"{pid}#occurrence#cbc#{n}#due" for n in range(20))
    patient = replace(f.stored(f.profile(pid), next_check=date(2026, 2, 1)), sent_notices=sent)
    patient = replace(patient, record=replace(patient.record, results=results))
    items = patient_items(patient, 16)
    results_items = [i for i in items if i["sk"]["S"].startswith(keys.RESULTS_PREFIX)]
    assert [i["sk"]["S"] for i in results_items] == ["RESULTS#2024", "RESULTS#2025", "RESULTS#2026"]
    entry = results_items[0]["0101r00000000000"]["S"]
    assert entry == "cbc|4.5|10^9/L"
    notices = [i for i in items if i["sk"]["S"] == keys.NOTICES]
    assert len(notices) == 1
    assert set(notices[0]) - {"pk", "sk"} == {f"o#cbc#{n}#due" for n in range(20)}
    back = patient_from_items(sorted(items, key=lambda i: i["sk"]["S"]))
    assert back is not None
    assert back.record.results == results
    assert back.sent_notices == sent


def test_a_notices_item_written_with_the_old_sent_set_reads_back_unchanged() -> None:
    """Items stored before the outbox alone kept delivery state carry a ``sent`` string set: it is no mark."""
    pid = "0123456789abcdef0123456789abcdef"
    patient = replace(f.stored(f.profile(pid), next_check=date(2026, 2, 1)), sent_notices=frozenset({f"{pid}#x"}))
    items = patient_items(patient, 16)
    notices = next(i for i in items if i["sk"]["S"] == keys.NOTICES)
    notices["sent"] = {"SS": sorted(set(notices) - {"pk", "sk"})}
    back = patient_from_items(sorted(items, key=lambda i: i["sk"]["S"]))
    assert back is not None
    assert back.sent_notices == {f"{pid}#x"}
    assert [mark.key for mark in marks_from_item(pid, notices)] == [f"{pid}#x"]


def test_round_1_result_entries_still_read_back() -> None:
    """Items written before analytes existed (``item|value|unit|status`` and the JSON list) read as before."""
    day = date(2026, 3, 2)
    assert result_from_entry(day, "r1", "cd4|512|cells/uL") == Result("r1", ResultItem.CD4, day, 512.0, "cells/uL")
    assert result_from_entry(day, "r2", "tb_screening|||negative") == Result(
        "r2", ResultItem.TB_SCREENING, day, status="negative"
    )
    assert result_from_entry(day, "r3", "cbc") == Result("r3", ResultItem.CBC, day)
    assert result_from_entry(day, "r4", '["cbc",1.5,"a|b",null]') == Result("r4", ResultItem.CBC, day, 1.5, "a|b")


def test_a_result_with_analytes_is_a_json_object_and_round_1_results_keep_their_form() -> None:
    day = date(2026, 3, 2)
    plain = Result("r1", ResultItem.CD4, day, 512.0, "cells/uL")
    assert result_entry(plain) == "cd4|512|cells/uL"
    low = f.cbc(day, 15.0, ("platelets_below_100", Severity.CRITICAL))
    entry = result_entry(low)
    assert entry.startswith("{")
    assert "acknowledged" not in entry
    assert result_from_entry(day, low.result_id, entry) == low
