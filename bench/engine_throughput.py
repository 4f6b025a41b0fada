"""Throughput of the regimen engine: what the nightly sweep computes for every due patient.

For each synthetic patient: the schedule, the status, the notices owed today and, once those count as
sent, the next day something will be owed. Generation of the histories is not timed.

    .venv/bin/python -m bench.engine_throughput [--patients N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_CORE = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from lemtrada.regimen import US_PROTOCOL, build_schedule, next_check, notices_due, patient_status  # noqa: E402

from bench.synthetic import synthetic_records  # noqa: E402

TODAY = date(2026, 6, 1)
_BATCH = 2_000


@dataclass(frozen=True)
class Throughput:
    patients: int
    seconds: float
    occurrences: int
    notices: int

    @property
    def per_second(self) -> float:
        return self.patients / self.seconds if self.seconds else float("inf")

    def line(self) -> str:
        return (
            f"engine: {self.patients} patients in {self.seconds:.2f} s -> {self.per_second:,.0f} patients/s "
            f"({self.occurrences / max(self.patients, 1):.0f} occurrences and "
            f"{self.notices / max(self.patients, 1):.1f} notices per patient)"
        )


def measure(patients: int, seed: int = 7) -> Throughput:
    """Schedule, status, notices owed and next_check for ``patients`` histories; only the engine is timed."""
    records = synthetic_records(patients, seed, TODAY)
    elapsed = 0.0
    done = notices = occurrences = 0
    while done < patients:
        batch = [record for _, record in zip(range(_BATCH), records, strict=False)]
        if not batch:
            break
        started = time.perf_counter()
        for record in batch:
            schedule = build_schedule(record, TODAY, US_PROTOCOL)
            patient_status(record, TODAY, US_PROTOCOL)
            owed = notices_due(record, TODAY, frozenset(), US_PROTOCOL)
            next_check(record, frozenset(n.key for n in owed), US_PROTOCOL, after=TODAY)
            occurrences += len(schedule.occurrences)
            notices += len(owed)
        elapsed += time.perf_counter() - started
        done += len(batch)
    return Throughput(done, elapsed, occurrences, notices)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(measure(args.patients, args.seed).line())


if __name__ == "__main__":
    main()
