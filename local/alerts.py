"""The minute drain of owed alerts, locally: `POST /_local/drain-alerts` and the template's schedule run in-process.

The recording function publishes an alert before it answers (DESIGN 7), on the local stack as in AWS. What it
left owed (SNS refused it, or the process died after the commit) goes out with the next run of the template's
`AlertDrainFunction`: `POST /_local/drain-alerts` runs it at once and answers its report and the alerts it
published; the stack also runs it on the template's `ScheduleV2` rate (`rate(1 minute)`), as EventBridge
Scheduler would (`LOCAL_ALERT_DRAIN_SECONDS` overrides the period; 0 turns the local schedule off).
`python -m local.alerts` asks a running stack.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local.events import HttpRequest, HttpResponse, json_response
from local.server import LocalRoutes
from local.template import resources_of_type

if TYPE_CHECKING:
    from local.stack import LocalStack

FUNCTION = "AlertDrainFunction"
PATH = "/_local/drain-alerts"
PERIOD_VARIABLE = "LOCAL_ALERT_DRAIN_SECONDS"
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|second|seconds|hour|hours)\)$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


def schedule_seconds(template: Mapping[str, Any], function: str = FUNCTION) -> float | None:
    """The period of the translated template's schedule that targets ``function`` (None: it has none)."""
    for resource in resources_of_type(template, "AWS::Scheduler::Schedule").values():
        properties = resource.get("Properties") or {}
        arn = (properties.get("Target") or {}).get("Arn")
        if arn != {"Fn::GetAtt": [function, "Arn"]}:
            continue
        match = _RATE.match(str(properties.get("ScheduleExpression", "")))
        if match is None:
            raise ValueError(f"{function}'s schedule is not a rate(): {properties.get('ScheduleExpression')}")
        return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")])
    return None


def scheduler_event(now: datetime) -> dict[str, Any]:
    """What EventBridge Scheduler sends a Lambda target (the drain reads its own clock, not this)."""
    return {
        "version": "0",
        "id": "local",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": ["local"],
        "detail": "{}",
    }


def run_drain(stack: LocalStack) -> dict[str, Any]:
    """One run of the drain function; its report and the alerts it published (the `default` JSON of each)."""
    runner = stack.runner
    assert runner is not None, "start() the stack first"
    before = len(stack.notices())
    report: dict[str, Any] = runner.invoke(FUNCTION, scheduler_event(datetime.now(UTC)))
    published = stack.notices()[before:]
    alerts = [n["digest"] for n in published if n.get("attributes", {}).get("kind") == "alert"]
    return {**report, "alerts": alerts}


class Ticker:
    """Runs the drain every ``seconds`` in a daemon thread until stopped (the local stand-in for the schedule)."""

    def __init__(self, stack: LocalStack, seconds: float) -> None:
        self.stack = stack
        self.seconds = seconds
        self.stopped = threading.Event()
        self.runs = 0
        self._thread = threading.Thread(target=self._loop, name="alert-drain", daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self._thread.join(timeout=self.seconds + 5)

    def _loop(self) -> None:
        while not self.stopped.wait(self.seconds):
            try:
                run_drain(self.stack)
            except Exception as error:  # as a failed run in AWS: the next one retries
                sys.stderr.write(f"alert drain: run failed: {type(error).__name__}: {error}\n")
            self.runs += 1


def register(routes: LocalRoutes, stack: LocalStack) -> None:
    """Add `POST /_local/drain-alerts` and start the local schedule (unless its period is 0)."""

    def drain(_request: HttpRequest) -> HttpResponse:
        try:
            return json_response(200, run_drain(stack))
        except Exception as error:
            return json_response(500, {"message": f"alert drain failed: {type(error).__name__}: {error}"})

    routes.add("POST", PATH, drain)
    configured = os.environ.get(PERIOD_VARIABLE)
    seconds = float(configured) if configured else schedule_seconds(stack.template)
    if seconds:
        Ticker(stack, seconds).start()


def main(argv: list[str]) -> int:
    """`python -m local.alerts` against the running stack (PORT, default 3000)."""
    if argv:
        print("usage: python -m local.alerts", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}{PATH}"
    request = urllib.request.Request(url, data=b"{}", headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        print(json.dumps(json.loads(response.read()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
