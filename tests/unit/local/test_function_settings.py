"""Functions share the local stack's process: each still sees its own template variables in the layer's settings
(the publish function's WORKLIST_URL, which no other function has)."""

from __future__ import annotations

import functools
import os
import sys
import types
from pathlib import Path

import pytest

from local.functions import FunctionRunner, FunctionSpec

HANDLER = """
import sys

def handler(event, context):
    return sys.modules["lemtrada.bootstrap"].settings()
"""


def test_a_function_reads_its_own_variables_after_another_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.py").write_text(HANDLER, encoding="utf-8")
    bootstrap = types.ModuleType("lemtrada.bootstrap")

    @functools.cache
    def settings() -> str | None:
        return os.environ.get("WORKLIST_URL")  # read once and kept, as the layer's Settings are

    bootstrap.settings = settings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lemtrada.bootstrap", bootstrap)

    def spec(name: str, environment: dict[str, str]) -> FunctionSpec:
        return FunctionSpec(name, tmp_path, "app.handler", 128, 3.0, environment)

    runner = FunctionRunner(
        {
            "ReadingFunction": spec("ReadingFunction", {"STAGE": "local"}),
            "SweepPublishFunction": spec("SweepPublishFunction", {"STAGE": "local", "WORKLIST_URL": "http://w"}),
        },
        {},
    )
    assert runner.invoke("ReadingFunction", {}) is None
    assert runner.invoke("SweepPublishFunction", {}) == "http://w"
    assert runner.invoke("ReadingFunction", {}) is None
    assert runner.invoke("ReadingFunction", {}) is None  # same variables: the kept settings
