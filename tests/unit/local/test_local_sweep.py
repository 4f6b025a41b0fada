"""`POST /_local/sweep` in-process: the real definition on handler files, a worker that fails, the answer."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from local.events import HttpRequest
from local.functions import FunctionRunner, FunctionSpec
from local.server import LocalRoutes
from local.stack import LocalStack
from local.sweep import register
from local.template import LocalContext, Resolver, load_template
from local.translation import translate
from tests.conftest import ROOT

PLAN = """
def handler(event, context):
    assert event["execution"].startswith("local-sweep-")
    clinics = {"c-1": {"date": event["input"]["date"], "label": "US"}}
    return {"clinics": clinics, "shards": ["00", "01"], "run_id": event["execution"], "idle": False}
"""

WORKER = """
import os

def handler(event, context):
    if event["shard"] in os.environ.get("FAILING_SHARDS", "").split(","):
        raise ConnectionError("shard " + event["shard"] + " unreadable")
    return {"shard": event["shard"], "queued": 1, "clinics": sorted(event["clinics"])}
"""

PUBLISH = """
import json, os

def handler(event, context):
    with open(os.environ["NOTICES_FILE"], "a") as notices:
        notices.write(json.dumps({"digest": {"payload": event}}) + "\\n")
    return {"sent": 1}
"""


@dataclass
class FakeStack:
    """What run_sweep reads of a LocalStack: the translated template, its resolver, the runner, the notices."""

    template: dict[str, Any]
    resolver: Resolver
    runner: FunctionRunner
    notices_file: Path

    def notices(self) -> list[dict[str, Any]]:
        if not self.notices_file.exists():
            return []
        return [json.loads(line) for line in self.notices_file.read_text().splitlines()]


def _stack(tmp_path: Path, failing: str) -> FakeStack:
    template = translate(load_template(ROOT / "template.yaml"), ROOT, {"Stage": "local"})
    context = LocalContext(parameters={"Stage": "local"})
    specs = {}
    notices_file = tmp_path / "notices.jsonl"
    for logical_id, code in (
        ("SweepPlanFunction", PLAN),
        ("SweepWorkerFunction", WORKER),
        ("SweepPublishFunction", PUBLISH),
    ):
        folder = tmp_path / logical_id
        folder.mkdir()
        (folder / "app.py").write_text(textwrap.dedent(code))
        variables = {"FAILING_SHARDS": failing, "NOTICES_FILE": str(notices_file)}
        specs[logical_id] = FunctionSpec(logical_id, folder, "app.handler", 128, 3.0, variables)
        context.attributes[(logical_id, "Arn")] = f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}"
    return FakeStack(template, Resolver(template, context), FunctionRunner(specs, {}), notices_file)


def _sweep(stack: FakeStack, body: dict[str, str]) -> tuple[int, Any]:
    routes = LocalRoutes()
    register(routes, cast(LocalStack, stack))
    handler = routes.find("POST", "/_local/sweep")
    assert handler is not None
    response = handler(HttpRequest("POST", "/_local/sweep", "", [], json.dumps(body).encode()))
    return response.status, json.loads(response.body)


def test_a_sweep_hands_publish_the_plans_clinics_and_run_and_answers_its_digests(tmp_path: Path) -> None:
    status, body = _sweep(_stack(tmp_path, failing=""), {"date": "2026-11-24"})
    assert status == 200, body
    [published] = body
    assert published["payload"]["clinics"] == {"c-1": {"date": "2026-11-24", "label": "US"}}
    assert published["payload"]["run_id"].startswith("local-sweep-")


def test_a_worker_failing_past_its_retries_publishes_what_was_queued_and_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, body = _sweep(_stack(tmp_path, failing="01"), {"date": "2026-11-24"})
    assert status == 500
    assert body["error"] == "SweepShardFailed"
    assert body["message"].startswith("sweep failed: SweepShardFailed: ")
    # PublishWhatWasQueued ran with the plan's clinics and no run id (no lease is completed on that path)
    assert body["published"] == [{"payload": {"clinics": {"c-1": {"date": "2026-11-24", "label": "US"}}}}]
    assert capsys.readouterr().err.count("retrying") == 5  # the worker's MaxAttempts, without the waits
