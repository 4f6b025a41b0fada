"""`POST /_local/sweep` on the live stack: one execution of the real state machine definition."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def test_a_sweep_runs_the_definition_end_to_end_and_answers_its_digests(local_stack: RunningStack) -> None:
    response = requests.post(f"{local_stack.base_url}/_local/sweep", json={"date": "2026-11-24"}, timeout=120)
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)
    again = requests.post(f"{local_stack.base_url}/_local/sweep", json={"now": "2026-11-24T02:00:00Z"}, timeout=120)
    assert again.status_code == 200, again.text
    assert again.json() == []  # nothing was due on this fresh stack, and nothing is sent twice


@pytest.mark.parametrize("body", [{}, {"date": "24/11/2026"}, {"now": "2026-11-24T02:00:00"}])
def test_a_sweep_without_a_good_date_is_refused(base_url: str, body: dict[str, str]) -> None:
    response = requests.post(f"{base_url}/_local/sweep", json=body, timeout=10)
    assert response.status_code == 400
