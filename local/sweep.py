"""`POST /_local/sweep`: the nightly sweep's three steps in-process, in the state machine's order.

{"date": "YYYY-MM-DD"} gives every clinic that local date; {"now": "<ISO instant with offset>"} gives each clinic
its own local date at that instant. The real plan, worker (once per shard) and publish handlers run as the state
machine would call them; the answer is the digests this run published (the `default` JSON of each message), which
`GET /_local/notices` also lists. `python -m local.sweep DATE` (or `make sweep DATE=...`) asks a running stack.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.request
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from local.events import HttpRequest, HttpResponse, json_response
from local.server import LocalRoutes

if TYPE_CHECKING:
    from local.stack import LocalStack

PLAN, WORKER, PUBLISH = "SweepPlanFunction", "SweepWorkerFunction", "SweepPublishFunction"
_one_at_a_time = threading.Lock()  # like one scheduled execution a night: runs never overlap locally


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


def run_sweep(stack: LocalStack, event: dict[str, str]) -> list[dict[str, Any]]:
    """plan -> every shard -> publish through the real handlers; the digests published by this run."""
    with _one_at_a_time:
        runner = stack.runner
        assert runner is not None, "start() the stack first"
        before = len(stack.notices())
        plan = runner.invoke(PLAN, event)
        results = [runner.invoke(WORKER, {"shard": shard, "clinics": plan["clinics"]}) for shard in plan["shards"]]
        runner.invoke(PUBLISH, {**plan, "results": results})
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
        except Exception as error:  # the run failed loudly; what was queued stays pending for the next run
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
