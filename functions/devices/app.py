"""The patient's phones and reminder preference (DESIGN 9): /me/devices and /me/reminders, patients only.

A device is an SNS mobile push endpoint on the APNs or FCM platform application the template names; the token goes
to SNS and is hashed for the "same body again" check, never answered or logged (Powertools logs no bodies here).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lemtrada import bootstrap
from lemtrada.services.reminders import Devices
from lemtrada.services.views import DevicesView, DeviceView, RemindersView
from lemtrada.web import idempotency
from lemtrada.web.api import answer, current_actor, idempotent_write, new_resolver, ok, problem_responses, resolve_write
from lemtrada.web.models import DeviceIn, RemindersIn
from lemtrada.web.params import DeviceId, IdempotencyKey

bootstrap.settings()  # the environment is checked at start: a missing variable fails the cold start, by name
logger = Logger()
metrics = Metrics()
app = new_resolver()


def _devices() -> Devices:
    return Devices(bootstrap.repository(), bootstrap.reminder_store(), bootstrap.push_gateway(), bootstrap.clock())


@app.get("/me/devices", tags=["patients"], responses=problem_responses(404))
def list_devices() -> Response[DevicesView]:
    """The calling patient's registered devices (no tokens) and whether reminders are on."""
    return ok(_devices().list_devices(current_actor(app)))  # type: ignore[return-value]


@app.put(
    "/me/devices/<device_id>",
    tags=["patients"],
    responses=problem_responses(404, 409, 413, 415, ok={200: "Stored already or updated", 201: "Registered"}),
)
def put_device(
    device_id: DeviceId, device: Annotated[DeviceIn, Body()], key: IdempotencyKey = None
) -> Response[DeviceView]:
    """Register this phone for reminders (201), or update its token (200); the same body again changes nothing.
    At most 5 devices (422 ``too_many_devices``); a platform without an application: 422 ``platform_not_configured``."""
    actor = current_actor(app)

    def write() -> idempotency.WriteAnswer:
        saved = _devices().put_device(actor, device_id, device.platform, device.token)
        if saved.created:
            metrics.add_metric(name="DevicesRegistered", unit=MetricUnit.Count, value=1)
        return answer(201 if saved.created else 200, saved.view)

    return idempotent_write(app, device, write)  # type: ignore[return-value]


@app.delete(
    "/me/devices/<device_id>",
    tags=["patients"],
    responses=problem_responses(404, ok={204: "Deleted (or gone already)"}, media="text/plain"),
)
def delete_device(device_id: DeviceId) -> Response[str]:
    """Forget this phone and delete its push endpoint (204, also when it was gone already)."""
    _devices().delete_device(current_actor(app), device_id)
    return Response(status_code=204, content_type="text/plain", body="", headers={"Cache-Control": "no-store"})


@app.put("/me/reminders", tags=["patients"], responses=problem_responses(404, 409, 413, 415))
def put_reminders(preference: Annotated[RemindersIn, Body()], key: IdempotencyKey = None) -> Response[RemindersView]:
    """Turn reminders on or off (default on)."""
    actor = current_actor(app)

    def write() -> idempotency.WriteAnswer:
        return answer(200, _devices().set_reminders(actor, preference.enabled))

    return idempotent_write(app, preference, write)  # type: ignore[return-value]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve_write(app, event, context)
