"""Where digests go: the port, the SNS implementation and an in-memory twin for tests and the local runner."""

from __future__ import annotations

from typing import Any, Protocol

from lemtrada.notify.digest import DigestMessage


class PublishError(Exception):
    """The digest was not accepted; nothing may be marked sent."""


class DigestPublisher(Protocol):
    """Publishes one digest message; returns the message id once the transport has accepted it."""

    def publish(self, message: DigestMessage) -> str: ...


class SnsDigestPublisher:
    """Publishes to the digest topic with MessageStructure=json and the attributes subscriptions filter on.

    The boto3 client is created on first use (cold starts that publish nothing do not pay for it); botocore's
    standard retry mode retries throttling and 5xx before an error reaches the sweep.
    """

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - lazy: only publishing pays for the client
            from botocore.config import Config  # noqa: PLC0415

            self._client = boto3.client("sns", config=Config(retries={"mode": "standard", "max_attempts": 5}))
        return self._client

    def publish(self, message: DigestMessage) -> str:
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
            raise PublishError(f"digest {message.clinic_id}/{message.date} part {message.part} not accepted") from error
        return str(response["MessageId"])
