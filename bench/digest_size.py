"""The digest of one clinic of 2,000 realistic patients (DESIGN 8): SNS messages and bytes, e-mail size and lines.

Patients from ``bench/synthetic.py`` with ids shaped like the service's (32 hex digits); their notices from the
real engine for one date, three nights:

- ``ordinary``: the night after a sweep (what was owed the day before is sent): the usual morning;
- ``3-night gap``: three nights without a run, then one (states, not events: what is owed now and not yet sent);
- ``first night``: the first sweep after onboarding the whole clinic that day, with DESIGN 8's "history is not
  news" applied here as a filter (missed occurrences and milestones before that date, deviations and findings of
  more than 30 days before it, are history), so the figure does not depend on the engine's version of the rule.

    .venv/bin/python -m bench.digest_size [--patients 2000] [--worklist-url https://...]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# Run as ``python -m bench...`` from the repository root: the layer's packages live in layers/core.
_CORE = str(Path(__file__).resolve().parent.parent / "layers" / "core")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from lemtrada.notify.digest import MAX_PATIENT_LINES, SNS_MAX_BYTES, build_digest  # noqa: E402
from lemtrada.regimen.notices import notices_due  # noqa: E402
from lemtrada.regimen.protocol import US_PROTOCOL  # noqa: E402

from bench.sweep_cost import with_service_ids  # noqa: E402
from bench.synthetic import synthetic_records  # noqa: E402

DAY = date(2026, 6, 1)
CLINIC = "c-0123456789ab"
DEFAULT_URL = "https://clinicians.example/clinics/{clinic_id}/worklist"

Item = Mapping[str, Any]


@dataclass(frozen=True)
class DigestSize:
    night: str
    patients: int  # enrolled in the clinic
    items: int
    with_items: int  # patients with at least one item
    messages: int
    largest_bytes: int
    email_bytes: int
    email_lines: int  # patient lines of the e-mail
    pointer: bool

    def row(self) -> str:
        return (
            f"{self.night:>12} {self.patients:>8,} {self.items:>7,} {self.with_items:>9,} | {self.messages:>8}"
            f" {self.largest_bytes:>13,} {self.email_bytes:>11,} {self.email_lines:>7}"
            f" {'yes' if self.pointer else 'no':>7}"
        )


HEADER = (
    f"{'night':>12} {'enrolled':>8} {'items':>7} {'patients':>9} | {'messages':>8} {'largest bytes':>13}"
    f" {'email bytes':>11} {'lines':>7} {'pointer':>7}"
)


def _first_night(day: date) -> Callable[[Item], bool]:
    horizon = (day - timedelta(days=30)).isoformat()

    def news(item: Item) -> bool:
        match item.get("kind"):
            case "occurrence":
                return item.get("state") != "missed"
            case "milestone":
                return str(item.get("date")) >= day.isoformat()
            case _:
                return str(item.get("date")) >= horizon

    return news


def nights(patients: int, seed: int = 5, day: date = DAY) -> dict[str, list[Item]]:
    """Each night's digest items for one clinic of ``patients`` synthetic patients."""
    rng = random.Random(seed * 7919 + 1)
    out: dict[str, list[Item]] = {"ordinary": [], "3-night gap": [], "first night": []}
    first = _first_night(day)
    for raw in synthetic_records(patients, seed, day):
        record = with_service_ids(raw, rng)
        owed_now = notices_due(record, day, frozenset(), US_PROTOCOL)
        for night, gap in (("ordinary", 1), ("3-night gap", 3)):
            sent = frozenset(n.key for n in notices_due(record, day - timedelta(days=gap), frozenset(), US_PROTOCOL))
            out[night].extend(n.to_digest_item() for n in owed_now if n.key not in sent)
        out["first night"].extend(item for item in (n.to_digest_item() for n in owed_now) if first(item))
    return out


def measure(night: str, patients: int, items: Iterable[Item], worklist_url: str | None) -> DigestSize:
    listed = list(items)
    messages = build_digest(CLINIC, DAY, listed, worklist_url=worklist_url)
    email = messages[0].email_text() if messages else ""
    lines = sum(1 for line in email.splitlines() if line.startswith("- patient "))
    largest = max((m.size_bytes() for m in messages), default=0)
    assert largest < SNS_MAX_BYTES
    assert lines <= MAX_PATIENT_LINES
    return DigestSize(
        night,
        patients,
        len(listed),
        len({i["patient_id"] for i in listed}),
        len(messages),
        largest,
        len(email.encode("utf-8")),
        lines,
        "see the worklist" in email,
    )


def run(patients: int = 2000, worklist_url: str | None = DEFAULT_URL) -> list[DigestSize]:
    return [measure(night, patients, items, worklist_url) for night, items in nights(patients).items()]


def table(sizes: list[DigestSize]) -> str:
    return "\n".join([HEADER, *(size.row() for size in sizes)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--worklist-url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    print(table(run(args.patients, args.worklist_url or None)))


if __name__ == "__main__":
    main()
