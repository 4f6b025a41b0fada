"""History is not news (DESIGN 8): what happened well before enrollment is stored and shown, never notified.

Pure predicates every rule asks (notices, alerts, the worklist, readiness, reminders), so one definition decides
what is history:

- an occurrence whose period ended before ``enrolled_on`` (missed before the clinic used the service);
- a milestone dated before ``enrolled_on``;
- a deviation of an infusion or a finding on a result dated **more than 30 days** before ``enrolled_on``.

A deviation or finding within the 30 days before enrollment is current (pre-treatment labs are often drawn
before it), and what is due or overdue on the enrollment date is notified as usual.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol

HISTORY_DAYS = 30
"""A deviation or finding dated more than this many days before ``enrolled_on`` is history (DESIGN 8)."""


class _Period(Protocol):
    @property
    def period_ends(self) -> date: ...


class _Dated(Protocol):
    @property
    def date(self) -> date: ...


def is_history(fact_date: date, enrolled_on: date) -> bool:
    """True for a deviation or finding dated more than 30 days before enrollment."""
    return fact_date < enrolled_on - timedelta(days=HISTORY_DAYS)


def occurrence_is_history(occurrence: _Period, enrolled_on: date) -> bool:
    """True for an occurrence whose period ended before enrollment (``period_ends`` is exclusive)."""
    return occurrence.period_ends <= enrolled_on


def milestone_is_history(milestone: _Dated, enrolled_on: date) -> bool:
    """True for a milestone dated before enrollment."""
    return milestone.date < enrolled_on
