"""moto's SNS server as the local stack runs it: topics from the template, published messages read back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from local.sns import MotoSns, topic_specs
from local.template import LocalContext, Resolver, parse_template
from tests.conftest import free_port

pytestmark = pytest.mark.integration

TEMPLATE = """
Resources:
  DigestTopic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: !Ref Key
      Tags: [{Key: a, Value: b}]
  OrderedTopic:
    Type: AWS::SNS::Topic
    Properties:
      FifoTopic: true
      ContentBasedDeduplication: true
  Key:
    Type: AWS::KMS::Key
"""


@pytest.fixture(scope="module")
def moto_sns() -> Iterator[MotoSns]:
    server = MotoSns(free_port(), "us-east-1", "123456789012")
    server.start()
    yield server
    server.stop()


def test_topics_are_created_from_the_template(moto_sns: MotoSns) -> None:
    template = parse_template(TEMPLATE)

    arns = moto_sns.create_topics(topic_specs(template, Resolver(template, LocalContext())))

    assert arns == {
        "DigestTopic": "arn:aws:sns:us-east-1:123456789012:DigestTopic",
        "OrderedTopic": "arn:aws:sns:us-east-1:123456789012:OrderedTopic.fifo",
    }
    attributes = moto_sns.client().get_topic_attributes(TopicArn=arns["OrderedTopic"])["Attributes"]
    assert attributes["FifoTopic"] == "true"


def test_published_messages_are_read_back_oldest_first(moto_sns: MotoSns) -> None:
    arn = moto_sns.create_topics(
        topic_specs(parse_template(TEMPLATE), Resolver(parse_template(TEMPLATE), LocalContext()))
    )["DigestTopic"]
    client = moto_sns.client()
    digest = {"clinic_id": "c1", "date": "2026-01-05", "part": 1, "parts": 1, "items": []}
    client.publish(
        TopicArn=arn,
        Subject="digest",
        MessageStructure="json",
        Message=json.dumps({"default": json.dumps(digest), "email": "text"}),
        MessageAttributes={
            "clinic_id": {"DataType": "String", "StringValue": "c1"},
            "kind": {"DataType": "String", "StringValue": "digest"},
        },
    )
    client.publish(TopicArn=arn, Message="plain text")

    notices = moto_sns.published(arn)

    assert notices[-2:] == [
        {"subject": "digest", "attributes": {"clinic_id": "c1", "kind": "digest"}, "digest": digest, "email": "text"},
        {"subject": None, "attributes": {}, "digest": "plain text", "email": None},
    ]


def test_an_unknown_topic_has_no_notices(moto_sns: MotoSns) -> None:
    assert moto_sns.published("arn:aws:sns:us-east-1:123456789012:Nothing") == []
