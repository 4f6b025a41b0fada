"""The local sweep runs the real state machine definition: its hand-offs, Retry, and the Catch path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local.states import DefinitionError, ExecutionFailed, Interpreter
from local.sweep import STATE_MACHINE
from local.template import LocalContext, Resolver, load_template
from local.translation import state_machine_definition, translate
from tests.conftest import ROOT

PLAN: dict[str, Any] = {
    "clinics": {"c-1": "2026-11-24"},
    "shards": ["00", "01", "02"],
    "run_id": "run-1",
    "idle": False,
}
FUNCTIONS = ("SweepPlanFunction", "SweepWorkerFunction", "SweepPublishFunction")


class WorkerDown(Exception):
    """What a worker raises when its shard cannot be read."""


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    template = translate(load_template(ROOT / "template.yaml"), ROOT, {"Stage": "local"})
    context = LocalContext(parameters={"Stage": "local"})
    for name in FUNCTIONS:
        context.attributes[(name, "Arn")] = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    return state_machine_definition(template, Resolver(template, context), STATE_MACHINE)


class Functions:
    """Fake plan/worker/publish recording every call; the worker fails on the shards told to."""

    def __init__(self, failing: Callable[[str, int], bool] = lambda _shard, _attempt: False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failing = failing
        self.worker_attempts: dict[str, int] = {}

    def __call__(self, function: str, payload: Any) -> Any:
        name = function.rsplit(":", 1)[-1]
        self.calls.append((name, payload))
        if name == "SweepPlanFunction":
            return PLAN
        if name == "SweepWorkerFunction":
            shard = payload["shard"]
            self.worker_attempts[shard] = attempt = self.worker_attempts.get(shard, 0) + 1
            if self.failing(shard, attempt):
                raise WorkerDown(f"shard {shard} unreadable")
            return {"shard": shard, "queued": 1}
        return {"sent": [{"clinic_id": "c-1"}]}

    def named(self, name: str) -> list[Any]:
        return [payload for called, payload in self.calls if called == name]


def test_every_step_gets_what_the_definition_hands_it(definition: dict[str, Any]) -> None:
    functions = Functions()
    interpreter = Interpreter(definition, functions)

    output = interpreter.run({"date": "2026-11-24"}, execution_id="exec-7")

    # The plan gets the execution's input and its id (the leases it takes name the execution).
    assert functions.named("SweepPlanFunction") == [{"input": {"date": "2026-11-24"}, "execution": "exec-7"}]
    assert functions.named("SweepWorkerFunction") == [{"shard": s, "clinics": PLAN["clinics"]} for s in PLAN["shards"]]
    # Publish gets the plan's clinics and run id only (not the shard results).
    assert functions.named("SweepPublishFunction") == [{"clinics": PLAN["clinics"], "run_id": "run-1"}]
    assert output == {"sent": [{"clinic_id": "c-1"}]}
    assert interpreter.visited == [
        "Plan",
        "AnythingToSweep",
        "SweepShards",
        "SweepShard",
        "SweepShard",
        "SweepShard",
        "Publish",
    ]


def test_an_hour_with_no_clinic_due_ends_after_the_plan(definition: dict[str, Any]) -> None:
    calls: list[str] = []

    def idle(function: str, payload: Any) -> Any:
        calls.append(function.rsplit(":", 1)[-1])
        return {"clinics": {}, "shards": [], "run_id": "run-2", "idle": True}

    interpreter = Interpreter(definition, idle)
    interpreter.run({"now": "2026-11-24T03:00:00+00:00"})
    assert calls == ["SweepPlanFunction"]
    assert interpreter.visited == ["Plan", "AnythingToSweep", "NothingToSweep"]


def test_a_worker_that_recovers_within_its_retries_does_not_fail_the_run(definition: dict[str, Any]) -> None:
    functions = Functions(failing=lambda shard, attempt: shard == "01" and attempt <= 2)
    waits: list[float] = []
    interpreter = Interpreter(definition, functions, sleep=waits.append, jitter=lambda ceiling: ceiling)

    assert interpreter.run({"date": "2026-11-24"}) == {"sent": [{"clinic_id": "c-1"}]}
    assert functions.worker_attempts == {"00": 1, "01": 3, "02": 1}
    assert waits == [5.0, 10.0]  # IntervalSeconds 5, BackoffRate 2
    assert "PublishWhatWasQueued" not in interpreter.visited


def test_a_shard_failing_past_its_retries_publishes_what_was_queued_then_fails(definition: dict[str, Any]) -> None:
    functions = Functions(failing=lambda shard, _attempt: shard == "01")
    waits: list[float] = []
    interpreter = Interpreter(definition, functions, sleep=waits.append, jitter=lambda ceiling: ceiling)

    with pytest.raises(ExecutionFailed) as failed:
        interpreter.run({"date": "2026-11-24"})

    assert failed.value.error == "SweepShardFailed"
    assert functions.worker_attempts == {"00": 1, "01": 6}  # one try and MaxAttempts 5 retries; the Map stops
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0]
    # The Catch path publishes the plan's clinics but completes no lease: the failed shard's patients are still due.
    assert functions.named("SweepPublishFunction") == [{"clinics": PLAN["clinics"]}]
    assert interpreter.visited[-2:] == ["PublishWhatWasQueued", "ShardFailed"]
    assert "Publish" not in interpreter.visited


def test_full_jitter_waits_at_most_the_backoff_capped_by_max_delay(definition: dict[str, Any]) -> None:
    functions = Functions(failing=lambda shard, _attempt: shard == "00")
    ceilings: list[float] = []

    def jitter(ceiling: float) -> float:
        ceilings.append(ceiling)
        return ceiling / 2

    with pytest.raises(ExecutionFailed):
        Interpreter(definition, functions, jitter=jitter).run({"date": "2026-11-24"})
    assert ceilings == [5.0, 10.0, 20.0, 40.0, 80.0]


def test_a_plan_that_keeps_failing_fails_the_run_with_its_error(definition: dict[str, Any]) -> None:
    def broken(function: str, payload: Any) -> Any:
        raise WorkerDown("no clinics")

    interpreter = Interpreter(definition, broken)
    with pytest.raises(ExecutionFailed) as failed:
        interpreter.run({"date": "2026-11-24"})
    assert failed.value.error == "WorkerDown"
    assert len(interpreter.attempts) == 5  # MaxAttempts 4 retries
    assert interpreter.visited == ["Plan"]


def test_pass_result_selector_and_paths() -> None:
    definition = {
        "StartAt": "Seed",
        "States": {
            "Seed": {"Type": "Pass", "Result": {"n": 2}, "ResultPath": "$.seed", "Next": "Call"},
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "F", "Payload": {"n.$": "$.seed.n", "fixed": [1, {"a": "b"}]}},
                "ResultSelector": {"doubled.$": "$.Payload.doubled"},
                "ResultPath": "$.call",
                "OutputPath": "$.call",
                "Next": "Keep",
            },
            "Keep": {"Type": "Pass", "Parameters": {"was.$": "$.doubled"}, "ResultPath": None, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    seen: list[Any] = []

    def double(function: str, payload: Any) -> Any:
        seen.append((function, payload))
        return {"doubled": payload["n"] * 2}

    assert Interpreter(definition, double).run({"x": 1}) == {"doubled": 4}
    assert seen == [("F", {"n": 2, "fixed": [1, {"a": "b"}]})]


@pytest.mark.parametrize(
    "state",
    [
        {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "X"}], "Default": "X"},
        {"Type": "Wait", "Seconds": 1, "End": True},
        {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "A", "States": {}}},
    ],
)
def test_what_is_not_run_locally_is_refused_up_front(state: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError):
        Interpreter({"StartAt": "S", "States": {"S": state}}, lambda _f, _p: None)


def test_an_intrinsic_function_is_refused_rather_than_passed_on_as_text() -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "States.Format('{}', $.x)"}, "End": True}},
    }
    with pytest.raises(DefinitionError):
        Interpreter(definition, lambda _f, _p: None).run({"x": 1})
