"""Subscriptions take kind in [digest, alert]; the migration updates older ones and is safe to run twice (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from lemtrada.notify.alert import AlertMessage
from lemtrada.notify.publisher import SnsDigestPublisher
from lemtrada.regimen.alerts import Alert
from lemtrada.regimen.records import Severity
from lemtrada.services.sweep_subscriptions import filter_policy, migrate_filter_policies
from moto import mock_aws

OLD = {"clinic_id": ["c1"], "kind": ["digest"]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        yield sns, sqs, sns.create_topic(Name="digest")["TopicArn"]


def _queue(sns: Any, sqs: Any, topic: str, name: str, policy: dict[str, Any] | None) -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "true"}
    if policy is not None:
        attributes |= {"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"}
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return str(url)


def _received(sqs: Any, url: str) -> int:
    return len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))


def _policies(sns: Any, topic: str) -> list[Any]:
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    attributes = [sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"] for s in subs]
    return sorted((json.loads(a.get("FilterPolicy") or "null") for a in attributes), key=json.dumps)


def test_new_subscriptions_take_digests_and_alerts() -> None:
    assert json.loads(filter_policy("c1")) == {"clinic_id": ["c1"], "kind": ["digest", "alert"]}


def test_the_migration_lets_alerts_through_and_is_safe_to_run_twice(aws: tuple[Any, Any, str]) -> None:
    sns, sqs, topic = aws
    old = _queue(sns, sqs, topic, "old", OLD)
    other = _queue(sns, sqs, topic, "other", {"clinic_id": ["c2"], "kind": ["digest"]})
    _queue(sns, sqs, topic, "unfiltered", None)
    publisher = SnsDigestPublisher(topic, sns)
    alert = AlertMessage(Alert("c1", "p1", "finding", "platelets_below_100", Severity.CRITICAL, date(2026, 11, 20)))
    publisher.publish(alert)
    assert _received(sqs, old) == 0  # before: the old policy drops alerts

    first = migrate_filter_policies(sns, topic)
    assert (first.updated, first.current, first.skipped) == (2, 0, 1)
    assert _policies(sns, topic) == sorted(
        [None, json.loads(filter_policy("c1")), json.loads(filter_policy("c2"))], key=json.dumps
    )
    second = migrate_filter_policies(sns, topic)
    assert (second.updated, second.current, second.skipped) == (0, 2, 1)

    publisher.publish(alert)
    assert _received(sqs, old) == 1
    assert _received(sqs, other) == 0  # still only its own clinic
