"""Patient reminders locally (DESIGN 9): platform applications in moto, `POST /_local/remind`, `GET /_local/push`.

A platform application has no CloudFormation type, so the stack creates one per platform in moto at start (moto
names them deterministically: ``app/<platform>/<name>``) and passes their ARNs as the template parameters
``ApnsPlatformApplicationArn`` / ``FcmPlatformApplicationArn``, as a deployment would. `POST /_local/remind`
{"now": "<ISO instant>"} runs the template's `ReminderFunction` once, as the hourly schedule would at that
instant; `GET /_local/push` lists what SNS accepted for a device endpoint so far, oldest first: moto's endpoint
``publish`` (the step after its EndpointDisabled check) is wrapped to note each message in order, so the list is
exactly what SNS was asked to deliver, not what the code meant to send. `python -m local.reminders NOW` (or
`make remind NOW=...`) asks a running stack.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moto.sns.models import PlatformEndpoint

from local.events import HttpRequest, HttpResponse, json_response
from local.server import LocalRoutes

if TYPE_CHECKING:
    from local.stack import LocalStack

FUNCTION = "ReminderFunction"
APPLICATIONS = {
    "ApnsPlatformApplicationArn": ("APNS", "lemtrada-local-ios"),
    "FcmPlatformApplicationArn": ("GCM", "lemtrada-local-android"),
}

_sent: list[tuple[str, str, str]] = []  # (platform, CustomUserData, message) in the order SNS accepted them
_lock = threading.Lock()
_one_run_at_a_time = threading.Lock()


def platform_parameters(region: str, account_id: str) -> dict[str, str]:
    """The template parameters naming the platform applications the stack creates in moto."""
    return {
        parameter: f"arn:aws:sns:{region}:{account_id}:app/{platform}/{name}"
        for parameter, (platform, name) in APPLICATIONS.items()
    }


def create_platform_applications(client: Any) -> None:
    """Create the platform applications (idempotent for moto: same name, same ARN)."""
    for platform, name in APPLICATIONS.values():
        client.create_platform_application(Name=name, Platform=platform, Attributes={})


def _record_publishes() -> None:
    """Note every message moto's endpoints accept (once per process)."""
    if getattr(PlatformEndpoint.publish, "_local_push", False):
        return
    original = PlatformEndpoint.publish

    def publish(endpoint: PlatformEndpoint, message: str) -> str:
        message_id = original(endpoint, message)  # raises EndpointDisabled for a disabled endpoint
        with _lock:
            _sent.append((endpoint.application.platform, endpoint.custom_user_data, message))
        return message_id

    publish._local_push = True  # type: ignore[attr-defined]
    PlatformEndpoint.publish = publish  # type: ignore[method-assign, assignment]


def pushes() -> list[dict[str, Any]]:
    """Every push SNS accepted so far, oldest first: [{device_id, patient_id, title, body, data}]."""
    with _lock:
        sent = list(_sent)
    out = []
    for platform, user_data, message in sent:
        patient_id, _, device_id = user_data.rpartition("/")
        payload = json.loads(message)
        if platform == "GCM":
            fcm = json.loads(payload["GCM"])["fcmV1Message"]["message"]
            title, body = fcm["notification"]["title"], fcm["notification"]["body"]
            data = {k: _json_or_text(v) for k, v in fcm["data"].items()}
        else:
            apns = json.loads(payload["APNS"])
            title, body, data = apns["aps"]["alert"]["title"], apns["aps"]["alert"]["body"], apns["data"]
        out.append({"device_id": device_id, "patient_id": patient_id, "title": title, "body": body, "data": data})
    return out


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def register(routes: LocalRoutes, stack: LocalStack) -> None:
    """Add `POST /_local/remind` and `GET /_local/push`."""
    _record_publishes()

    def remind(request: HttpRequest) -> HttpResponse:
        try:
            body = json.loads(request.body or b"{}")
            now = body.get("now") if isinstance(body, dict) else None
            if not isinstance(now, str):
                raise ValueError('give {"now": "<ISO instant with offset>"}')
            instant = datetime.fromisoformat(now.replace("Z", "+00:00"))
            if instant.tzinfo is None:
                raise ValueError("now needs a UTC offset")
        except ValueError as error:
            return json_response(400, {"message": str(error)})
        runner = stack.runner
        assert runner is not None, "start() the stack first"
        with _one_run_at_a_time:
            before = len(pushes())
            try:
                run = runner.invoke(FUNCTION, {"now": instant.isoformat()})
            except Exception as error:  # the run failed loudly (as the deployed one would, and its alarm fire)
                sent = pushes()[before:]
                return json_response(500, {"message": f"reminder run failed: {error}", "pushes": sent})
            return json_response(200, {"run": run, "pushes": pushes()[before:]})

    def push(_request: HttpRequest) -> HttpResponse:
        return json_response(200, pushes())

    routes.add("POST", "/_local/remind", remind)
    routes.add("GET", "/_local/push", push)


def main(argv: list[str]) -> int:
    """`python -m local.reminders 2026-12-13T08:05:00Z` against the running stack (PORT, default 3000)."""
    if len(argv) != 1:
        print("usage: python -m local.reminders <ISO instant>", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/_local/remind"
    request = urllib.request.Request(
        url, data=json.dumps({"now": argv[0]}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=900) as response:
        print(json.dumps(json.loads(response.read()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
