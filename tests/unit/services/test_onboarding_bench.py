"""The onboarding benchmark's own check, small: enrolling patients with history and sweeping sends no history."""

from __future__ import annotations

from bench import onboarding


def test_a_first_sweep_after_enrolling_with_history_sends_no_history() -> None:
    measured = onboarding.run(patients=12, seed=3)
    assert measured.patients == 12
    assert measured.items > 0  # what is current is still sent
    assert measured.history_items == 0
    assert measured.history_alerts == 0
    assert measured.without_rule > measured.items  # without the rule the first digest would hold the history
