"""Throughput of the regimen engine: what the nightly sweep asks it about every due patient.

The sweep's question is ``notices_due`` on day D, then ``next_check`` after D once those notices count as sent.
It is measured on two nights of the same synthetic histories (bench/synthetic.py: 1 to 4 courses started over
the last six years, mostly punctual results, some late or missing):

- a steady night: what was owed up to D - 1 is already sent (the sweep ran every night before);
- a first night: nothing sent yet (every missed occurrence of the history is owed at once).

Next to them: the same steady-night question answered by round 1's engine (every occurrence walked from k = 1:
``tests/unit/regimen/reference_engine.py``, the lazy engine's oracle), and round 1's figure: the full schedule,
the status, the notices and next_check for each patient.
Every measurement starts each batch with the engine's caches and memos empty (a night's records are fresh);
generating the histories and the steady night's ``sent`` is not timed. Times are this process's CPU time
(``time.process_time``: the engine is single-threaded, so that is one core's work, whatever else the machine
runs meanwhile).

    .venv/bin/python -m bench.engine_throughput [--patients N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_CORE = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from lemtrada.regimen import US_PROTOCOL, build_schedule, next_check, notices_due, patient_status  # noqa: E402
from lemtrada.regimen.lazy import clear_caches  # noqa: E402
from lemtrada.regimen.records import PatientRecord  # noqa: E402

from bench.synthetic import synthetic_records  # noqa: E402
from tests.unit.regimen.reference_engine import full_next_check, full_notices_due  # noqa: E402

TODAY = date(2026, 6, 1)
GOAL = 10_000  # patients/s for the sweep's question on one core (issue 11)
_BATCH = 2_000


@dataclass(frozen=True)
class Run:
    name: str
    patients: int
    seconds: float
    notices: int
    occurrences: int | None = None

    @property
    def per_second(self) -> float:
        return self.patients / self.seconds if self.seconds else float("inf")

    def line(self) -> str:
        per = max(self.patients, 1)
        extra = f"{self.notices / per:.1f} notices"
        if self.occurrences is not None:
            extra = f"{self.occurrences / per:.0f} occurrences and {extra}"
        return (
            f"engine, {self.name}: {self.patients} patients in {self.seconds:.2f} s CPU -> "
            f"{self.per_second:,.0f} patients/s ({extra} per patient)"
        )


@dataclass(frozen=True)
class Throughput:
    steady: Run
    first: Run
    walked: Run
    full: Run

    def line(self) -> str:
        ratio = self.steady.per_second / self.walked.per_second if self.walked.per_second else float("nan")
        met = "met" if self.steady.per_second >= GOAL else f"missed by {GOAL - self.steady.per_second:,.0f}"
        return "\n".join(
            (
                self.steady.line(),
                self.first.line(),
                self.walked.line(),
                self.full.line(),
                f"engine goal: the sweep's question (steady night) at {GOAL:,} patients/s on one core: {met} "
                f"({self.steady.per_second:,.0f}; {ratio:.1f}x round 1's walk of the same question)",
            )
        )


Question = Callable[[PatientRecord, frozenset[str]], int]


def _sweeps_question(record: PatientRecord, sent: frozenset[str]) -> int:
    owed = notices_due(record, TODAY, sent, US_PROTOCOL)
    next_check(record, sent | {n.key for n in owed}, US_PROTOCOL, after=TODAY)
    return len(owed)


def _walked_question(record: PatientRecord, sent: frozenset[str]) -> int:
    owed = full_notices_due(record, TODAY, sent, US_PROTOCOL)
    full_next_check(record, sent | {n.key for n in owed}, US_PROTOCOL, after=TODAY)
    return len(owed)


def _full_schedule(record: PatientRecord, sent: frozenset[str]) -> int:
    build_schedule(record, TODAY, US_PROTOCOL)
    patient_status(record, TODAY, US_PROTOCOL)
    owed = notices_due(record, TODAY, sent, US_PROTOCOL)
    next_check(record, sent | {n.key for n in owed}, US_PROTOCOL, after=TODAY)
    return len(owed)


def _timed(batch: Sequence[PatientRecord], sents: Sequence[frozenset[str]], question: Question) -> tuple[float, int]:
    clear_caches()
    started = time.process_time()
    notices = 0
    for record, sent in zip(batch, sents, strict=True):
        notices += question(record, sent)
    return time.process_time() - started, notices


def measure(patients: int, seed: int = 7) -> Throughput:
    """The three measurements over the same ``patients`` histories, batch by batch, side by side."""
    records = synthetic_records(patients, seed, TODAY)
    totals = {"steady": [0.0, 0], "first": [0.0, 0], "walked": [0.0, 0], "full": [0.0, 0]}
    occurrences = done = 0
    yesterday = TODAY - timedelta(days=1)
    while done < patients:
        batch = [record for _, record in zip(range(_BATCH), records, strict=False)]
        if not batch:
            break
        nothing = [frozenset[str]()] * len(batch)
        swept = [frozenset(n.key for n in notices_due(r, yesterday, frozenset(), US_PROTOCOL)) for r in batch]
        for name, sents, question in (
            ("steady", swept, _sweeps_question),
            ("first", nothing, _sweeps_question),
            ("walked", swept, _walked_question),
            ("full", nothing, _full_schedule),
        ):
            seconds, notices = _timed(batch, sents, question)
            totals[name][0] += seconds
            totals[name][1] += notices
        occurrences += sum(len(build_schedule(r, TODAY, US_PROTOCOL).occurrences) for r in batch)
        done += len(batch)
    return Throughput(
        Run("the sweep's question on a steady night", done, totals["steady"][0], int(totals["steady"][1])),
        Run("the sweep's question on a first night", done, totals["first"][0], int(totals["first"][1])),
        Run("the same steady night by round 1's walk", done, totals["walked"][0], int(totals["walked"][1])),
        Run("full schedule (round 1's measure)", done, totals["full"][0], int(totals["full"][1]), occurrences),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(measure(args.patients, args.seed).line())


if __name__ == "__main__":
    main()
