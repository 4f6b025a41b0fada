"""`POST /_local/drain-alerts` and the local minute schedule, in-process on a stand-in drain function."""

from __future__ import annotations

import json
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from local.alerts import FUNCTION, PATH, Ticker, register, schedule_seconds
from local.events import HttpRequest
from local.functions import FunctionRunner, FunctionSpec
from local.server import LocalRoutes
from local.stack import LOCAL_ROUTE_MODULES, LocalStack
from local.template import load_template
from local.translation import translate
from tests.conftest import ROOT

DRAIN = """
import json, os

def handler(event, context):
    assert event["source"] == "aws.scheduler"
    with open(os.environ["NOTICES_FILE"], "a") as notices:
        notices.write(json.dumps({"attributes": {"kind": "alert"}, "digest": {"code": "platelets_below_100"}}) + "\\n")
    return {"sent": 1, "failed": 0, "held": 0, "oldest_owed_seconds": 0.0}
"""


@dataclass
class FakeStack:
    """What the drain's local door reads of a LocalStack: the translated template, the runner, the notices."""

    template: dict[str, Any]
    runner: FunctionRunner
    notices_file: Path

    def notices(self) -> list[dict[str, Any]]:
        if not self.notices_file.exists():
            return []
        return [json.loads(line) for line in self.notices_file.read_text().splitlines()]


@pytest.fixture
def stack(tmp_path: Path) -> FakeStack:
    template = translate(load_template(ROOT / "template.yaml"), ROOT, {"Stage": "local"})
    folder = tmp_path / FUNCTION
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(DRAIN))
    notices = tmp_path / "notices.jsonl"
    spec = FunctionSpec(FUNCTION, folder, "app.handler", 256, 30.0, {"NOTICES_FILE": str(notices)})
    return FakeStack(template, FunctionRunner({FUNCTION: spec}, {}), notices)


def test_the_local_schedule_is_the_templates_rate() -> None:
    template = translate(load_template(ROOT / "template.yaml"), ROOT, {"Stage": "local"})
    assert schedule_seconds(template) == 60.0
    assert schedule_seconds(template, "SweepPlanFunction") is None
    assert "local.alerts" in LOCAL_ROUTE_MODULES


def test_the_route_runs_the_drain_and_answers_what_it_published(
    stack: FakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_ALERT_DRAIN_SECONDS", "0")  # no background runs in this test
    routes = LocalRoutes()
    register(routes, cast(LocalStack, stack))
    handler = routes.find("POST", PATH)
    assert handler is not None
    response = handler(HttpRequest("POST", PATH, "", [], b""))
    assert response.status == 200
    assert json.loads(response.body) == {
        "sent": 1,
        "failed": 0,
        "held": 0,
        "oldest_owed_seconds": 0.0,
        "alerts": [{"code": "platelets_below_100"}],
    }


def test_the_ticker_runs_the_drain_on_its_period_until_stopped(stack: FakeStack) -> None:
    ticker = Ticker(cast(LocalStack, stack), 0.05).start()
    deadline = time.monotonic() + 10
    while ticker.runs < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    ticker.stop()
    runs = ticker.runs
    assert runs >= 2
    assert len(stack.notices()) == runs
    time.sleep(0.2)
    assert ticker.runs == runs  # stopped
