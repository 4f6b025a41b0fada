"""`POST /_local/sweep`: one execution of the nightly sweep's state machine, its real definition, in-process.

{"date": "YYYY-MM-DD"} gives every clinic that local date; {"now": "<ISO instant with offset>"} gives each clinic
its own local date at that instant. `local.states` runs the translated template's definition (plan, the Map
over the shards, publish, and on a shard that fails past its retries the Catch path PublishWhatWasQueued ->
ShardFailed) on the real handlers; the answer is the digests this run published (the `default` JSON of each
message), which `GET /_local/notices` also lists. `python -m local.sweep DATE` (or `make sweep DATE=...`) asks a
running stack.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from local.events import HttpRequest, HttpResponse, json_response
from local.functions import FunctionRunner
from local.server import LocalRoutes
from local.states import ExecutionFailed, Interpreter
from local.translation import state_machine_definition

if TYPE_CHECKING:
    from local.stack import LocalStack

STATE_MACHINE = "SweepStateMachine"
_one_at_a_time = threading.Lock()  # like one scheduled execution a night: runs never overlap locally


class SweepFailed(RuntimeError):
    """The execution failed (as the deployed one would, and its alarm fire); what it published still went out."""

    def __init__(self, error: ExecutionFailed, published: list[dict[str, Any]]) -> None:
        super().__init__(str(error))
        self.error = error
        self.published = published


def sweep_event(body: dict[str, Any]) -> dict[str, str]:
    """The plan's input from the request body; ValueError when neither a date nor an instant is given well."""
    if isinstance(body.get("date"), str):
        return {"date": date.fromisoformat(body["date"]).isoformat()}
    if isinstance(body.get("now"), str):
        instant = datetime.fromisoformat(body["now"].replace("Z", "+00:00"))
        if instant.tzinfo is None:
            raise ValueError("now needs a UTC offset")
        return {"now": instant.isoformat()}
    raise ValueError('give {"date": "YYYY-MM-DD"} or {"now": "<ISO instant>"}')


def lambda_invoker(runner: FunctionRunner) -> Callable[[str, Any], Any]:
    """Invoke a function named by ARN or name as Step Functions does: the payload and the result cross as JSON."""

    def invoke(function: str, payload: Any) -> Any:
        logical_id = function.rsplit(":", 1)[-1] if ":function:" in function else function
        return json.loads(json.dumps(runner.invoke(logical_id, json.loads(json.dumps(payload)))))

    return invoke


def _note_retry(seconds: float) -> None:
    """Locally a retry does not wait out its interval (a failing shard would hold the request for minutes)."""
    sys.stderr.write(f"sweep: a step failed, retrying (Step Functions would wait {seconds:.0f} s)\n")


def run_sweep(stack: LocalStack, event: dict[str, str]) -> list[dict[str, Any]]:
    """One execution of the real state machine definition on the local functions; the digests it published."""
    with _one_at_a_time:
        runner = stack.runner
        assert runner is not None, "start() the stack first"
        definition = state_machine_definition(stack.template, stack.resolver, STATE_MACHINE)
        before = len(stack.notices())
        interpreter = Interpreter(definition, lambda_invoker(runner), sleep=_note_retry)
        try:
            interpreter.run(event, execution_id=f"local-sweep-{uuid.uuid4()}")
        except ExecutionFailed as error:
            raise SweepFailed(error, [notice["digest"] for notice in stack.notices()[before:]]) from error
        return [notice["digest"] for notice in stack.notices()[before:]]


def register(routes: LocalRoutes, stack: LocalStack) -> None:
    """Add `POST /_local/sweep`."""

    def sweep(request: HttpRequest) -> HttpResponse:
        try:
            body = json.loads(request.body or b"{}")
            event = sweep_event(body if isinstance(body, dict) else {})
        except ValueError as error:
            return json_response(400, {"message": str(error)})
        try:
            return json_response(200, run_sweep(stack, event))
        except SweepFailed as failed:  # the run failed loudly; what was queued went out, the rest stays due
            payload = {
                "message": f"sweep failed: {failed.error.error}: {failed.error.cause}",
                "error": failed.error.error,
                "published": failed.published,
            }
            return json_response(500, payload)
        except Exception as error:
            return json_response(500, {"message": f"sweep failed: {type(error).__name__}: {error}"})

    routes.add("POST", "/_local/sweep", sweep)


def main(argv: list[str]) -> int:
    """`python -m local.sweep 2026-11-24` against the running stack (PORT, default 3000)."""
    if len(argv) != 1:
        print("usage: python -m local.sweep YYYY-MM-DD | ISO-instant", file=sys.stderr)
        return 2
    key = "now" if "T" in argv[0] else "date"
    url = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/_local/sweep"
    request = urllib.request.Request(
        url, data=json.dumps({key: argv[0]}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        print(json.dumps(json.loads(response.read()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
