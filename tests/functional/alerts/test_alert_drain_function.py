"""The alert drain function (functions/alert_drain) on moto, as EventBridge Scheduler invokes it each minute: an
alert SNS refused to the writer reaches the clinic's subscription (kind = alert) on the next run, once; the run
reports the oldest alert still owed, the metric the five-minute alarm reads; a read that fails fails the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from lemtrada import bootstrap
from lemtrada.notify.publisher import PublishError, SnsDigestPublisher
from lemtrada.services.sweep_subscriptions import filter_policy
from lemtrada.storage.repository import DynamoPatientRepository

from tests.functional.api.conftest import CLINIC, NOW, Api, load_function
from tests.functional.conftest import FUNCTION_ENV, FakeLambdaContext, load_event

LOW = {"analytes": [{"code": "platelets", "value": 15, "unit": "10*9/L"}]}


@pytest.fixture
def subscribed(api: Api, clinic: str) -> str:
    """The digest topic with one SQS subscription filtered as a clinician's e-mail is (clinic, digest or alert)."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="digest-test")["TopicArn"]
    assert topic == FUNCTION_ENV["TOPIC_ARN"]
    url: str = sqs.create_queue(QueueName="clinic-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": filter_policy(CLINIC), "FilterPolicyScope": "MessageAttributes"}
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url


def _inbox(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def _refused_once(monkeypatch: pytest.MonkeyPatch) -> None:
    publish = SnsDigestPublisher.publish
    calls = {"n": 0}

    def refuse_first(self: SnsDigestPublisher, message: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise PublishError("throttled")
        return publish(self, message)

    monkeypatch.setattr(SnsDigestPublisher, "publish", refuse_first)


def _drain(api: Api, context: Any = None) -> dict[str, Any]:
    event = load_event("alert_drain/scheduler")
    result: dict[str, Any] = load_function("alert_drain").handler(event, context or api.context)
    return result


@dataclass
class EndingContext(FakeLambdaContext):
    """A run with ``left`` milliseconds of its timeout left."""

    left: int = 1_000

    def get_remaining_time_in_millis(self) -> int:
        return self.left


def test_an_alert_sns_refused_to_the_writer_goes_out_on_the_next_run_once(
    api: Api, subscribed: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    patient_id = api.enroll().body["patient_id"]
    _refused_once(monkeypatch)
    recorded = api.result(patient_id, "cbc", "2026-11-23", **LOW)
    assert recorded.status == 201, recorded.raw  # the write answers though its alert was refused
    assert _inbox(subscribed) == []
    bootstrap.use(clock=lambda: NOW + timedelta(seconds=20))  # the next minute's run
    capsys.readouterr()
    assert _drain(api) == {"sent": 1, "failed": 0, "held": 0, "deferred": 0, "oldest_owed_seconds": 0.0}
    (message,) = _inbox(subscribed)
    assert message["MessageAttributes"]["kind"]["Value"] == "alert"
    document = json.loads(message["Message"])
    assert (document["patient_id"], document["code"]) == (patient_id, "platelets_below_100")
    assert document["finding_id"] == recorded.body["findings"][0]["finding_id"]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (metrics,) = emitted
    assert (metrics["OldestOwedAlertSeconds"], metrics["AlertsDrained"], metrics["service"]) == (
        [0.0],
        [1.0],
        "lemtrada-regimen",
    )
    (declared,) = metrics["_aws"]["CloudWatchMetrics"]
    assert declared["Namespace"] == "Lemtrada"
    assert declared["Dimensions"] == [["service"]]  # what the alarms name
    assert _drain(api)["sent"] == 0
    assert _inbox(subscribed) == []


def test_an_alert_held_by_a_writer_that_died_is_reported_then_sent_once_its_lease_ran_out(
    api: Api, subscribed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient_id = api.enroll().body["patient_id"]

    def die(self: SnsDigestPublisher, message: Any) -> str:
        raise SystemExit("the writer's execution environment is gone")

    with monkeypatch.context() as patch:
        patch.setattr(SnsDigestPublisher, "publish", die)
        with pytest.raises(SystemExit):
            api.result(patient_id, "cbc", "2026-11-23", **LOW)
    bootstrap.use(clock=lambda: NOW + timedelta(seconds=40))
    assert _drain(api) == {"sent": 0, "failed": 0, "held": 1, "deferred": 0, "oldest_owed_seconds": 40.0}
    bootstrap.use(clock=lambda: NOW + timedelta(seconds=61))
    assert _drain(api)["sent"] == 1
    assert len(_inbox(subscribed)) == 1


def test_a_run_whose_read_fails_fails_after_draining_the_other_clinics(
    api: Api, subscribed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient_id = api.enroll().body["patient_id"]
    _refused_once(monkeypatch)
    api.result(patient_id, "cbc", "2026-11-23", **LOW)
    assert api.put_clinic("broken-clinic").status == 201
    owed_alerts = DynamoPatientRepository.owed_alerts

    def broken(self: DynamoPatientRepository, clinic_id: str, **kwargs: Any) -> Any:
        if clinic_id == "broken-clinic":
            raise RuntimeError("ProvisionedThroughputExceededException")
        return owed_alerts(self, clinic_id, **kwargs)

    monkeypatch.setattr(DynamoPatientRepository, "owed_alerts", broken)
    with pytest.raises(RuntimeError, match="1 clinic"):
        _drain(api)
    assert len(_inbox(subscribed)) == 1  # the healthy clinic's alert went out all the same


def test_a_run_near_its_timeout_claims_nothing_more_and_leaves_it_to_the_next(
    api: Api, subscribed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient_id = api.enroll().body["patient_id"]
    _refused_once(monkeypatch)
    api.result(patient_id, "cbc", "2026-11-23", **LOW)
    ending = _drain(api, EndingContext(left=1_000))
    assert (ending["sent"], ending["deferred"]) == (0, 1)
    assert _inbox(subscribed) == []
    assert _drain(api, EndingContext(left=20_000))["sent"] == 1  # not claimed, so not held: the next run sends it
    assert len(_inbox(subscribed)) == 1
