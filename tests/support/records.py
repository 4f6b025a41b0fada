"""Domain records for tests that call services directly (no HTTP): one compliant infusion, changed where asked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from lemtrada.regimen.records import InfusionRequest, InfusionRoute


def infusion_request(day: date, **changes: Any) -> InfusionRequest:
    """12 mg by IV infusion over 4 h 30 min, 30 min after dilution, premedicated, observed 2 h, with a batch."""
    base = InfusionRequest(
        date=day,
        dose_mg=12,
        diluted_at=datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC),
        started_at=datetime(day.year, day.month, day.day, 7, 30, tzinfo=UTC),
        ended_at=datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC),
        route=InfusionRoute.IV_INFUSION,
        co_infused=False,
        methylprednisolone_mg=1000,
        antiviral_prophylaxis=True,
        observation_minutes=120,
        batch_number="B1",
    )
    return replace(base, **changes)
