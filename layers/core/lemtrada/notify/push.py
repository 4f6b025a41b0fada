"""Mobile push through SNS platform endpoints (DESIGN 9): the port and the SNS implementation.

The token goes to SNS once, in CreatePlatformEndpoint, and is never logged, stored or returned: the endpoint ARN
stands for the device from then on. A publish is one APNs/FCM message: ``notification`` (lock screen: title and
body, naming no test and no condition) plus ``data`` for the app. ``EndpointDisabled`` (the platform said the
token is dead) is ``EndpointGone``: the device is marked and skipped, never retried; throttling is retried with
backoff here after botocore's own retries; anything else is ``PushError`` (this patient's push waits for the next
run, the others go on). ``endpoint_owner`` reads an endpoint's CustomUserData (``<patient_id>/<device_id>``):
SNS rewrites it when another registration takes the token's endpoint over, so callers check it before they
publish or delete.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

ATTEMPTS = 4
BACKOFF = 0.2  # seconds, doubled per attempt, with full jitter
_THROTTLED = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException"})
_EXISTING = re.compile(r"Endpoint (arn:[^ ]+:endpoint/[^ ]+) already exists")
_GONE = frozenset({"EndpointDisabled", "NotFound", "EndpointDisabledException", "NotFoundException"})


class PushError(Exception):
    """SNS did not accept the push; nothing may be marked sent."""


class EndpointGone(PushError):
    """The endpoint is disabled or deleted: mark the device and never retry it."""


class PlatformNotConfigured(Exception):
    """No platform application ARN for this platform (template parameter left empty)."""


class PushGateway(Protocol):
    def create_endpoint(self, platform: str, token: str, user_data: str, *, enable: bool = False) -> str:
        """A platform endpoint for the token (SNS answers the existing one for the same token); its ARN.
        ``user_data`` (``<patient_id>/<device_id>``, opaque ids) is the endpoint's CustomUserData.
        ``enable``: the device was disabled (its endpoint too): enable it again for the token sent anew."""
        ...

    def delete_endpoint(self, endpoint_arn: str) -> None: ...

    def endpoint_owner(self, endpoint_arn: str) -> str | None:
        """The endpoint's CustomUserData (``<patient_id>/<device_id>``), None once it is deleted: SNS hands an
        endpoint to whoever registers its token next, so a stored ARN may name another patient's phone by now."""
        ...

    def publish(self, endpoint_arn: str, title: str, body: str, data: Mapping[str, Any]) -> str:
        """The message id once SNS accepted it; ``EndpointGone`` or ``PushError`` otherwise."""
        ...


def message_for(title: str, body: str, data: Mapping[str, Any]) -> str:
    """The ``MessageStructure=json`` body: APNs and FCM (HTTP v1) payloads and a default."""
    apns = {"aps": {"alert": {"title": title, "body": body}, "sound": "default"}, "data": dict(data)}
    fcm = {
        "fcmV1Message": {
            "message": {
                "notification": {"title": title, "body": body},
                "data": {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()},
            }
        }
    }
    payload = {"default": body, "APNS": json.dumps(apns), "APNS_SANDBOX": json.dumps(apns), "GCM": json.dumps(fcm)}
    return json.dumps(payload)


class SnsPushGateway:
    """SNS mobile push on the platform applications named by the template (``ApnsPlatformApplicationArn``,
    ``FcmPlatformApplicationArn``); the client is built on first use."""

    def __init__(
        self,
        platforms: Mapping[str, str | None],
        client: Any | None = None,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.platforms = {name: arn for name, arn in platforms.items() if arn}
        self._client = client
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - lazy: only pushing pays for the client
            from botocore.config import Config  # noqa: PLC0415

            config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)
            self._client = boto3.client("sns", config=config)
        return self._client

    def create_endpoint(self, platform: str, token: str, user_data: str, *, enable: bool = False) -> str:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        application = self.platforms.get(platform)
        if application is None:
            raise PlatformNotConfigured(platform)
        try:
            try:
                arn = str(
                    # CustomUserData as an attribute too: what GetEndpointAttributes answers (``endpoint_owner``);
                    # moto, under the local stack, answers it only when it was given this way.
                    self.client.create_platform_endpoint(
                        PlatformApplicationArn=application,
                        Token=token,
                        CustomUserData=user_data,
                        Attributes={"CustomUserData": user_data},
                    )["EndpointArn"]
                )
            except ClientError as error:
                # SNS's documented answer for a token whose endpoint exists with other attributes (disabled by the
                # platform, or another device id): that endpoint's ARN, in the message. Take it over.
                found = _EXISTING.search(str(error.response.get("Error", {}).get("Message", "")))
                if _code(error) != "InvalidParameter" or found is None:
                    raise
                arn, enable = found.group(1), True
            if enable:
                self.client.set_endpoint_attributes(
                    EndpointArn=arn, Attributes={"Enabled": "true", "Token": token, "CustomUserData": user_data}
                )
        except (BotoCoreError, ClientError) as error:
            # not chained: SNS's message about a token may echo the token into a log
            raise PushError(f"endpoint for {user_data} not created ({_code(error)})") from None
        return arn

    def delete_endpoint(self, endpoint_arn: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            self.client.delete_endpoint(EndpointArn=endpoint_arn)
        except ClientError as error:
            if _code(error) not in _GONE:
                raise PushError("endpoint not deleted") from error
        except BotoCoreError as error:
            raise PushError("endpoint not deleted") from error

    def endpoint_owner(self, endpoint_arn: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            attributes = self.client.get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]
        except ClientError as error:
            if _code(error) in _GONE:
                return None
            raise PushError(f"endpoint not read ({_code(error)})") from None
        except BotoCoreError as error:
            raise PushError(f"endpoint not read ({type(error).__name__})") from None
        return str(attributes.get("CustomUserData", ""))

    def publish(self, endpoint_arn: str, title: str, body: str, data: Mapping[str, Any]) -> str:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        message = message_for(title, body, data)
        for attempt in range(self.attempts):
            try:
                response = self.client.publish(TargetArn=endpoint_arn, Message=message, MessageStructure="json")
                return str(response["MessageId"])
            except ClientError as error:
                code = _code(error)
                if code in _GONE:
                    raise EndpointGone(code) from None
                if code not in _THROTTLED or attempt + 1 == self.attempts:
                    raise PushError(f"push not accepted ({code})") from None
                self.sleep(random.uniform(0, self.backoff * 2**attempt))
            except BotoCoreError as error:
                raise PushError(f"push not accepted ({type(error).__name__})") from None
        raise PushError("push not accepted")  # pragma: no cover - the loop returns or raises


def _code(error: Any) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(error).__name__))
