"""A small Amazon States Language interpreter: runs a state machine definition's own states and hand-offs.

The local sweep runs `statemachine/sweep.asl.json` as deployed (from the translated template, substitutions
applied) instead of a hand-written copy of its order, so what each function receives locally (`Payload.$`,
`ItemSelector`, `ResultPath`, a literal `{}`) is what Step Functions gives it, Retry and Catch included.

Covered: Task (`lambda:invoke` optimised integration and plain Lambda ARNs), Map (inline, `ItemsPath`,
`ItemSelector`/`Parameters`, `ItemProcessor`/`Iterator`), Pass, Fail, Succeed, Choice (rules of one
`Variable` compared with `BooleanEquals`, and `Default`); InputPath, Parameters,
ResultSelector, ResultPath (null included), OutputPath; Retry (ErrorEquals, IntervalSeconds, MaxAttempts,
BackoffRate, MaxDelaySeconds, JitterStrategy) and Catch. Paths are the reference-path subset (`$`, `$.a.b`,
`$$.Map.Item.Value`, `$$.Execution.Id`). Anything else (other Choice operators, Wait, Parallel, intrinsic
functions) is refused loudly rather than
run wrongly. Map iterations run one after another: the local functions take turns anyway.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Invoke one function (by the ARN or name in the definition) with a payload; returns its result.
Invoke = Callable[[str, Any], Any]

_LAMBDA_INVOKE = ":states:::lambda:invoke"
_SUPPORTED = ("Task", "Map", "Pass", "Fail", "Succeed", "Choice")
_CHOICE_RULE_KEYS = frozenset({"Variable", "BooleanEquals", "Next"})


class DefinitionError(ValueError):
    """The definition uses something this interpreter does not run."""


class StatesError(Exception):
    """An error as Step Functions names it (`States.TaskFailed`, a function's error type, a Fail state's)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class ExecutionFailed(StatesError):
    """The execution ended in failure: a Fail state, or an error no Catch handled."""


@dataclass
class Attempt:
    """One call of a Task (for the caller's log and for tests): state, payload, and the error if it failed."""

    state: str
    resource: str
    payload: Any
    error: str | None = None


@dataclass
class Interpreter:
    """Runs one definition; `sleep` waits between retries (the local stack passes a shortened wait)."""

    definition: Mapping[str, Any]
    invoke: Invoke
    sleep: Callable[[float], None] = lambda _seconds: None
    jitter: Callable[[float], float] = field(default=lambda ceiling: random.uniform(0, ceiling))
    attempts: list[Attempt] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check(self.definition)

    def run(self, execution_input: Any, execution_id: str = "local-execution") -> Any:
        """The execution's output; ExecutionFailed if it fails. ``execution_id`` is `$$.Execution.Id`."""
        return self._run_machine(self.definition, execution_input, context={"Execution": {"Id": execution_id}})

    # -- machine -------------------------------------------------------------------------------------
    def _run_machine(self, machine: Mapping[str, Any], value: Any, context: dict[str, Any]) -> Any:
        states: Mapping[str, Any] = machine["States"]
        name: str | None = machine["StartAt"]
        while name is not None:
            self.visited.append(name)
            state = states[name]
            kind = state["Type"]
            if kind == "Fail":
                raise ExecutionFailed(str(state.get("Error", "States.Fail")), str(state.get("Cause", "")))
            if kind == "Succeed":
                return _apply_path(value, state.get("OutputPath", "$"), context)
            if kind == "Choice":
                name = _choose(state, _apply_path(value, state.get("InputPath", "$"), context), context)
                continue
            try:
                value = self._run_state(name, state, value, context)
            except ExecutionFailed:
                raise
            except StatesError as error:
                handler = _catcher(state, error.error)
                if handler is None:
                    raise ExecutionFailed(error.error, error.cause) from error
                value = _set_result(value, handler.get("ResultPath", "$"), {"Error": error.error, "Cause": error.cause})
                name = handler["Next"]
                continue
            name = None if state.get("End") else state["Next"]
        return value

    def _run_state(self, name: str, state: Mapping[str, Any], value: Any, context: dict[str, Any]) -> Any:
        effective = _apply_path(value, state.get("InputPath", "$"), context)
        if state["Type"] == "Pass":
            if "Parameters" in state:
                effective = _parameters(state["Parameters"], effective, context)
            result = copy.deepcopy(state["Result"]) if "Result" in state else effective
        elif state["Type"] == "Task":
            result = self._with_retries(name, state, lambda: self._task(name, state, effective, context))
        else:
            result = self._with_retries(name, state, lambda: self._map(state, effective, context))
        if "ResultSelector" in state:
            result = _parameters(state["ResultSelector"], result, context)
        combined = _set_result(value, state.get("ResultPath", "$"), result)
        return _apply_path(combined, state.get("OutputPath", "$"), context)

    # -- Task and Map --------------------------------------------------------------------------------
    def _task(self, name: str, state: Mapping[str, Any], value: Any, context: dict[str, Any]) -> Any:
        resource = str(state["Resource"])
        parameters = _parameters(state["Parameters"], value, context) if "Parameters" in state else value
        if resource.endswith(_LAMBDA_INVOKE):
            if not isinstance(parameters, dict) or "FunctionName" not in parameters:
                raise DefinitionError(f"{name}: lambda:invoke needs Parameters.FunctionName")
            function, payload = str(parameters["FunctionName"]), parameters.get("Payload", value)
        elif ":lambda:" in resource and ":function:" in resource:
            function, payload = resource, parameters
        else:
            raise DefinitionError(f"{name}: resource {resource} is not a Lambda function")
        attempt = Attempt(name, function, copy.deepcopy(payload))
        self.attempts.append(attempt)
        try:
            output = self.invoke(function, payload)
        except Exception as error:  # a function error: its type is the error name Retry and Catch match
            attempt.error = type(error).__name__
            raise StatesError(type(error).__name__, str(error)) from error
        if resource.endswith(_LAMBDA_INVOKE):
            return {"Payload": output, "StatusCode": 200, "ExecutedVersion": "$LATEST"}
        return output

    def _map(self, state: Mapping[str, Any], value: Any, context: dict[str, Any]) -> list[Any]:
        items = _apply_path(value, state.get("ItemsPath", "$"), context)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"ItemsPath {state.get('ItemsPath', '$')} is not an array")
        processor: Mapping[str, Any] = state.get("ItemProcessor") or state["Iterator"]
        selector = state.get("ItemSelector", state.get("Parameters"))
        results = []
        for index, item in enumerate(items):
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            item_input = _parameters(selector, value, item_context) if selector is not None else item
            results.append(self._run_machine(processor, item_input, item_context))
        return results

    def _with_retries(self, name: str, state: Mapping[str, Any], step: Callable[[], Any]) -> Any:
        retriers = list(state.get("Retry") or [])
        counts = [0] * len(retriers)
        while True:
            try:
                return step()
            except ExecutionFailed as failed:  # an iteration's failure is the Map state's error
                error: StatesError = StatesError(failed.error, failed.cause)
            except StatesError as raised:
                error = raised
            index = _matching(retriers, error.error)
            if index is None:
                raise error
            retrier = retriers[index]
            if counts[index] >= int(retrier.get("MaxAttempts", 3)):
                raise error
            delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** counts[index]
            if "MaxDelaySeconds" in retrier:
                delay = min(delay, float(retrier["MaxDelaySeconds"]))
            if retrier.get("JitterStrategy") == "FULL":
                delay = self.jitter(delay)
            counts[index] += 1
            self.sleep(delay)


# -- checks and paths ----------------------------------------------------------------------------------
def _check(machine: Mapping[str, Any], where: str = "") -> None:
    for name, state in machine["States"].items():
        kind = state.get("Type")
        if kind not in _SUPPORTED:
            raise DefinitionError(f"{where}{name}: state type {kind} is not run locally")
        if kind == "Choice":
            for rule in state.get("Choices", []):
                if set(rule) != _CHOICE_RULE_KEYS:
                    raise DefinitionError(f"{where}{name}: only Variable + BooleanEquals choice rules run locally")
        if kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            mode = ((processor or {}).get("ProcessorConfig") or {}).get("Mode", "INLINE")
            if processor is None or mode != "INLINE":
                raise DefinitionError(f"{where}{name}: only inline Map states are run locally")
            _check(processor, f"{where}{name}/")


def _choose(state: Mapping[str, Any], value: Any, context: Mapping[str, Any]) -> str:
    """The Next of the first rule whose Variable equals its BooleanEquals, else Default (or NoChoiceMatched)."""
    for rule in state.get("Choices", []):
        try:
            actual = _apply_path(value, rule["Variable"], context)
        except StatesError:
            continue  # an absent variable matches no rule, as in Step Functions' comparison operators
        if isinstance(actual, bool) and actual is rule["BooleanEquals"]:
            return str(rule["Next"])
    if "Default" not in state:
        raise ExecutionFailed("States.NoChoiceMatched", "no choice rule matched and the Choice state has no Default")
    return str(state["Default"])


def _matching(rules: list[Mapping[str, Any]], error: str) -> int | None:
    """Index of the first Retry or Catch rule whose ErrorEquals names the error (States.ALL names any)."""
    for index, rule in enumerate(rules):
        names = rule.get("ErrorEquals") or []
        if (
            error in names
            or "States.ALL" in names
            or ("States.TaskFailed" in names and not error.startswith("States."))
        ):
            return index
    return None


def _catcher(state: Mapping[str, Any], error: str) -> Mapping[str, Any] | None:
    catchers = list(state.get("Catch") or [])
    index = _matching(catchers, error)
    return None if index is None else catchers[index]


def _steps(path: str) -> tuple[str, list[str]]:
    """('$' or '$$', the field names) of a reference path."""
    root = "$$" if path.startswith("$$") else "$"
    rest = path[len(root) :]
    if rest and not rest.startswith("."):
        raise DefinitionError(f"path {path} is not a plain reference path")
    names = [name for name in rest.split(".") if name]
    if any(not name.replace("_", "").replace("-", "").isalnum() for name in names):
        raise DefinitionError(f"path {path} is not a plain reference path")
    return root, names


def _apply_path(value: Any, path: str | None, context: Mapping[str, Any]) -> Any:
    """Select a path of the value (or of the context object for `$$`); a null path gives `{}`."""
    if path is None:
        return {}
    root, names = _steps(path)
    current: Any = context if root == "$$" else value
    for name in names:
        if not isinstance(current, Mapping) or name not in current:
            raise StatesError("States.Runtime", f"path {path} does not exist in the input")
        current = current[name]
    return copy.deepcopy(current)


def _set_result(value: Any, path: str | None, result: Any) -> Any:
    """ResultPath: null keeps the input, `$` replaces it, `$.a.b` sets a field of a copy of it."""
    if path is None:
        return value
    root, names = _steps(path)
    if root == "$$":
        raise DefinitionError("ResultPath cannot point into the context object")
    if not names:
        return result
    combined = copy.deepcopy(value) if isinstance(value, dict) else {}
    target = combined
    for name in names[:-1]:
        target = target.setdefault(name, {})
    target[names[-1]] = result
    return combined


def _parameters(template: Any, value: Any, context: Mapping[str, Any]) -> Any:
    """Parameters / ItemSelector / ResultSelector: `key.$` fields take a path's value, the rest stay literal."""
    if isinstance(template, list):
        return [_parameters(item, value, context) for item in template]
    if not isinstance(template, Mapping):
        return copy.deepcopy(template)
    result = {}
    for key, item in template.items():
        if key.endswith(".$"):
            if not isinstance(item, str) or not item.startswith("$"):
                raise DefinitionError(f"{key}: intrinsic functions are not run locally")
            result[key[:-2]] = _apply_path(value, item, context)
        else:
            result[key] = _parameters(item, value, context)
    return result
