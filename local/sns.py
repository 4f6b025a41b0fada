"""SNS on moto's server, run in the stack's own process, with the template's topics created at start.

moto keeps every message published to a topic in its backend (`Topic.sent_notifications`, the inspection API
moto documents for SNS); `GET /_local/notices` reads them from there, oldest first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from local.template import Resolver, resources_of_type


@dataclass(frozen=True)
class TopicSpec:
    """One `AWS::SNS::Topic` as the local stack creates it."""

    logical_id: str
    name: str
    attributes: dict[str, str]


def topic_specs(template: Mapping[str, Any], resolver: Resolver) -> list[TopicSpec]:
    """The template's topics, named by logical id (`.fifo` added for FIFO topics); KMS and tags left out."""
    specs = []
    for logical_id, resource in resources_of_type(template, "AWS::SNS::Topic").items():
        properties = resolver.resolve(resource.get("Properties") or {})
        fifo = str(properties.get("FifoTopic", "false")).lower() == "true"
        attributes = {"FifoTopic": "true"} if fifo else {}
        if fifo and str(properties.get("ContentBasedDeduplication", "false")).lower() == "true":
            attributes["ContentBasedDeduplication"] = "true"
        name = f"{logical_id}.fifo" if fifo else logical_id
        specs.append(TopicSpec(logical_id=logical_id, name=name, attributes=attributes))
    return specs


def topic_arn(name: str, region: str, account_id: str) -> str:
    """The ARN moto gives a topic (what `Ref` of the topic resolves to)."""
    return f"arn:aws:sns:{region}:{account_id}:{name}"


class MotoSns:
    """moto's server on 127.0.0.1:port; only SNS is used by the product."""

    def __init__(self, port: int, region: str, account_id: str) -> None:
        self.port = port
        self.region = region
        self.account_id = account_id
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._running = False

    @property
    def endpoint(self) -> str:
        """The URL clients use (loopback only)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving in a background thread (werkzeug's line per request silenced: the front logs)."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        self._running = True

    def stop(self) -> None:
        """Stop serving."""
        if self._running:
            self._running = False
            self._server.stop()

    def client(self) -> Any:
        """An SNS client for the local server with dummy credentials."""
        return boto3.client(
            "sns",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def create_topics(self, specs: list[TopicSpec]) -> dict[str, str]:
        """Create each topic (idempotent, as CreateTopic is); logical id -> ARN."""
        client = self.client()
        return {
            spec.logical_id: client.create_topic(Name=spec.name, Attributes=spec.attributes)["TopicArn"]
            for spec in specs
        }

    def published(self, arn: str) -> list[dict[str, Any]]:
        """Every message published to one topic so far, oldest first, as `GET /_local/notices` shows it."""
        backend = sns_backends[self.account_id][self.region]
        topic = backend.topics.get(arn)
        if topic is None:
            return []
        notices = []
        for _message_id, message, subject, attributes, _group_id in list(topic.sent_notifications):
            notices.append(
                {
                    "subject": subject,
                    "attributes": _attribute_values(attributes or {}),
                    "digest": _digest(message),
                    "email": _email(message),
                }
            )
        return notices


def _attribute_values(attributes: Mapping[str, Any]) -> dict[str, str]:
    """Message attributes as name -> value (String, Number and String.Array values as sent)."""
    values = {}
    for name, attribute in attributes.items():
        if isinstance(attribute, dict):
            value = attribute.get("StringValue", attribute.get("Value", attribute.get("BinaryValue")))
            values[name] = str(value)
        else:
            values[name] = str(attribute)
    return values


def _email(message: str) -> str | None:
    """The `email` text of a `MessageStructure=json` message (DESIGN 6), None for other messages."""
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    email = parsed.get("email") if isinstance(parsed, dict) else None
    return email if isinstance(email, str) else None


def _digest(message: str) -> Any:
    """The `default` JSON of a `MessageStructure=json` message; other messages parsed if JSON, else as sent."""
    try:
        parsed = json.loads(message)
    except ValueError:
        return message
    if isinstance(parsed, dict) and isinstance(parsed.get("default"), str):
        try:
            return json.loads(parsed["default"])
        except ValueError:
            return parsed["default"]
    return parsed
