"""Request bodies for tests, taken from the sample events in `events/`, so the samples stay the reference.

Each builder returns a fresh dict; keyword changes override fields, and a change to None drops the field.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
_SAMPLE_INFUSION_DAY = "2026-11-23"


@cache
def _sample(function: str, name: str) -> str:
    event = json.loads((EVENTS / function / f"{name}.json").read_text(encoding="utf-8"))
    return str(event["body"])


def sample_body(function: str, name: str) -> dict[str, Any]:
    """The JSON body of `events/<function>/<name>.json`."""
    body = json.loads(_sample(function, name))
    assert isinstance(body, dict)
    return body


def _changed(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**body, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def enrollment(**changes: Any) -> dict[str, Any]:
    """The sample enrollment without its `patient_sub` (a user links to one patient only), plus `changes`."""
    return _changed(sample_body("enrollment", "post_patients"), {"patient_sub": None, **changes})


def infusion(day: str, **changes: Any) -> dict[str, Any]:
    """The sample infusion (12 mg over 4 h 15 min, premedicated, observed 2 h) moved to `day`, plus `changes`."""
    text = _sample("recording", "post_infusion").replace(_SAMPLE_INFUSION_DAY, day)
    return _changed(json.loads(text), changes)


def result(**changes: Any) -> dict[str, Any]:
    return _changed(sample_body("recording", "post_result"), changes)


def clinic(**changes: Any) -> dict[str, Any]:
    return _changed(sample_body("enrollment", "put_clinic"), changes)
