"""Sweep handlers against moto: the regimen table (patients and the outbox pages their sweep writes append to, in
one transaction), the idempotency table, the digest topic, a queue per clinic subscribed with the same filter
policy e-mail subscriptions get."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from lemtrada import bootstrap
from lemtrada.services.sweep_subscriptions import filter_policy
from lemtrada.storage.repository import DynamoPatientRepository

from tests.unit.storage.tables import create_regimen_table
from tests.unit.sweep.fakes import add_clinic

ROOT = Path(__file__).resolve().parents[3]


def load_function(name: str) -> ModuleType:
    """functions/<name>/app.py as its own module (every function's file is called app.py)."""
    spec = importlib.util.spec_from_file_location(f"sweep_fn_{name}", ROOT / "functions" / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class SweepAws:
    repo: DynamoPatientRepository
    dynamodb: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queues: dict[str, str]

    def received(self, clinic_id: str) -> list[dict[str, Any]]:
        """Digest documents delivered to the clinic's queue (the SNS `default` JSON)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queues[clinic_id], MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(json.loads(message["Body"])["Message"]))
                self.sqs.delete_message(QueueUrl=self.queues[clinic_id], ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def sweep_aws(aws: None, function_env: dict[str, str]) -> Iterator[SweepAws]:
    dynamodb = boto3.client("dynamodb")
    create_regimen_table(dynamodb, function_env["TABLE_NAME"])  # with its indexes, as the template makes it
    tables: tuple[tuple[str, tuple[str, ...]], ...] = ((function_env["IDEMPOTENCY_TABLE_NAME"], ("id",)),)
    for name, keys in tables:
        schema: list[Any] = [{"AttributeName": keys[0], "KeyType": "HASH"}]
        schema += [{"AttributeName": k, "KeyType": "RANGE"} for k in keys[1:]]
        dynamodb.create_table(
            TableName=name,
            KeySchema=schema,
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    sns = boto3.client("sns")
    topic_arn = sns.create_topic(Name="digest-test")["TopicArn"]
    assert topic_arn == function_env["TOPIC_ARN"]
    sqs = boto3.client("sqs")
    repo = DynamoPatientRepository(function_env["TABLE_NAME"], region=function_env["AWS_REGION"], due_shards=16)
    queues = {}
    for clinic_id, tz in (("kiritimati-ms", "Pacific/Kiritimati"), ("pago-pago-ms", "Pacific/Pago_Pago")):
        add_clinic(repo, clinic_id, tz)
        url = sqs.create_queue(QueueName=f"digest-{clinic_id}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"FilterPolicy": filter_policy(clinic_id), "FilterPolicyScope": "MessageAttributes"},
        )
        queues[clinic_id] = url
    bootstrap.use(repository=repo)
    try:
        yield SweepAws(repo, dynamodb, sns, sqs, topic_arn, queues)
    finally:
        bootstrap.use()
