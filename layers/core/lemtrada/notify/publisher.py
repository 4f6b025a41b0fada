"""Where digests and alerts go: the port and the SNS implementation (the in-memory twin is in tests/support)."""

from __future__ import annotations

from typing import Any, Protocol

ATTEMPTS = 5
CONNECT_TIMEOUT = 2.0  # seconds
READ_TIMEOUT = 5.0  # seconds; SNS answers a Publish in tens of milliseconds
MAX_BACKOFF = 20.0  # botocore's standard mode: attempt n waits at most min(20 s, 2^(n-1) s)
PUBLISH_BOUND = ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + sum(min(MAX_BACKOFF, 2.0**n) for n in range(ATTEMPTS - 1))
"""The longest one ``publish`` can take (50 s): an alert's claim outlasts it (storage.alert_items.WRITER_LEASE,
services.alerts.DRAIN_LEASE), so no drain takes an alert whose publish may still be under way."""


class PublishError(Exception):
    """The message was not accepted; nothing may be marked sent."""


class Message(Protocol):
    """What a publisher sends: a digest part (notify.digest) or an alert (notify.alert)."""

    @property
    def clinic_id(self) -> str: ...

    @property
    def subject(self) -> str: ...

    def body(self) -> str: ...

    def attributes(self) -> dict[str, dict[str, str]]: ...


class DigestPublisher(Protocol):
    """Publishes one message; returns the message id once the transport has accepted it."""

    def publish(self, message: Message) -> str: ...


class SnsDigestPublisher:
    """Publishes to the digest topic with MessageStructure=json and the attributes subscriptions filter on.

    The boto3 client is created on first use (cold starts that publish nothing do not pay for it); botocore's
    standard retry mode retries throttling and 5xx before an error reaches the sweep; the timeouts bound a call
    (``PUBLISH_BOUND``) whatever the function's own timeout.
    """

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - lazy: only publishing pays for the client
            from botocore.config import Config  # noqa: PLC0415

            config = Config(
                retries={"mode": "standard", "max_attempts": ATTEMPTS},
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
            )
            self._client = boto3.client("sns", config=config)
        return self._client

    def publish(self, message: Message) -> str:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            response = self.client.publish(
                TopicArn=self.topic_arn,
                Subject=message.subject,
                Message=message.body(),
                MessageStructure="json",
                MessageAttributes=message.attributes(),
            )
        except (BotoCoreError, ClientError) as error:
            raise PublishError(f"{message.subject} not accepted") from error
        return str(response["MessageId"])
