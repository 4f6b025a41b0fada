"""The three sweep functions chained as the state machine does, on moto: outbox in DynamoDB, digests on SNS."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError
from lemtrada import bootstrap
from lemtrada.regimen import add_result, next_check, plan_infusion, protocol_for
from lemtrada.regimen.records import Analyte, InfusionRequest, InfusionRoute, Label, Result, ResultItem
from lemtrada.services.sweep import SweepError
from lemtrada.storage.outbox import DynamoOutbox
from lemtrada.storage.ports import OutboxAppend, OutboxError, OutboxPage, QueuedNotice
from lemtrada.storage.repository import DynamoPatientRepository

from tests.functional.conftest import FUNCTION_ENV, load_event
from tests.functional.sweep.conftest import SweepAws, load_function
from tests.unit.sweep.fakes import AUDIT, add_patient

TABLE = FUNCTION_ENV["TABLE_NAME"]
REGION = FUNCTION_ENV["AWS_REGION"]


@pytest.fixture(autouse=True)
def _fresh_functions(function_env: dict[str, str]) -> None:
    global plan_fn, worker_fn, publish_fn  # noqa: PLW0603
    plan_fn = load_function("sweep_plan")
    worker_fn = load_function("sweep_worker")
    publish_fn = load_function("sweep_publish")


plan_fn: Any = None
worker_fn: Any = None
publish_fn: Any = None


def _infused_patient(sweep_aws: SweepAws, pid: str, clinic: str, day: date) -> None:
    """A patient with one infusion given at 10 mg (a `dose_not_12mg` deviation owed from that day)."""
    add_patient(sweep_aws.repo, pid, clinic, None)
    stored = sweep_aws.repo.get_patient(pid)
    assert stored is not None
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    request = InfusionRequest(
        date=day,
        dose_mg=10.0,
        diluted_at=start - timedelta(hours=1),
        started_at=start,
        ended_at=start + timedelta(hours=5),
        route=InfusionRoute.IV_INFUSION,
        co_infused=False,
        methylprednisolone_mg=1000.0,
        antiviral_prophylaxis=True,
        observation_minutes=120,
        batch_number="B1",
    )
    protocol = protocol_for(Label.US)
    infusion = plan_infusion(stored.record, request, day, protocol)
    record = stored.record.__class__(profile=stored.record.profile, infusions=(infusion,))
    sweep_aws.repo.add_infusion(pid, infusion, stored.version, next_check(record, frozenset(), protocol), AUDIT)


def _run(event: dict[str, Any], lambda_context: Any, execution: str = "exec-1") -> dict[str, Any]:
    """plan -> Map(worker) -> publish, passing data as the state machine definition does (a call again with the
    same ``execution`` is a Step Functions retry within it: the same leases)."""
    plan = plan_fn.handler({"input": event, "execution": execution}, lambda_context)
    if plan["idle"]:
        return {"digests": [], "failed": []}
    results = [worker_fn.handler({"shard": s, "clinics": plan["clinics"]}, lambda_context) for s in plan["shards"]]
    assert all(r["shard"] in plan["shards"] for r in results)
    result: dict[str, Any] = publish_fn.handler({"clinics": plan["clinics"], "run_id": plan["run_id"]}, lambda_context)
    return result


def test_scheduler_event_plans_every_clinic_in_its_own_time_zone(sweep_aws: SweepAws, lambda_context: Any) -> None:
    plan = plan_fn.handler(load_event("sweep/scheduler"), lambda_context)
    assert plan["clinics"]["kiritimati-ms"]["date"] == "2026-11-24"
    assert plan["clinics"]["pago-pago-ms"]["date"] == "2026-11-23"
    assert plan["shards"] == list(range(16))
    assert plan["through"] == "2026-11-24"


def test_sample_events_run(sweep_aws: SweepAws, lambda_context: Any) -> None:
    assert worker_fn.handler(load_event("sweep/worker"), lambda_context)["shard"] == 3
    assert publish_fn.handler(load_event("sweep/publish"), lambda_context) == {"digests": [], "failed": []}


def test_digests_reach_only_their_clinic_once(sweep_aws: SweepAws, lambda_context: Any) -> None:
    _infused_patient(sweep_aws, "pt-k1", "kiritimati-ms", date(2026, 11, 20))
    _infused_patient(sweep_aws, "pt-p1", "pago-pago-ms", date(2026, 11, 20))
    result = _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)
    assert {(d["clinic_id"], d["date"]) for d in result["digests"]} == {
        ("kiritimati-ms", "2026-11-24"),
        ("pago-pago-ms", "2026-11-23"),
    }
    east, west = sweep_aws.received("kiritimati-ms"), sweep_aws.received("pago-pago-ms")
    assert [d["clinic_id"] for d in east] == ["kiritimati-ms"]
    assert [d["clinic_id"] for d in west] == ["pago-pago-ms"]
    assert {i["patient_id"] for i in east[0]["items"]} == {"pt-k1"}
    assert {"kind": "deviation", "code": "dose_not_12mg", "patient_id": "pt-k1"}.items() <= next(
        i for i in east[0]["items"] if i["code"] == "dose_not_12mg"
    ).items()
    # A re-run of the same instant sends nothing new.
    assert _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)["digests"] == []
    assert sweep_aws.received("kiritimati-ms") == []


def test_a_critical_finding_heads_the_digest_and_is_sent_once(sweep_aws: SweepAws, lambda_context: Any) -> None:
    """Platelets at 15 on a CBC beside an infusion deviation: the finding is the digest's first item, once."""
    _infused_patient(sweep_aws, "pt-k1", "kiritimati-ms", date(2026, 11, 20))
    stored = sweep_aws.repo.get_patient("pt-k1")
    assert stored is not None
    protocol = protocol_for(Label.US)
    cbc = Result("r-low", ResultItem.CBC, date(2026, 11, 21), analytes=(Analyte("platelets", 15, "10*9/L"),))
    record, added = add_result(stored.record, cbc, protocol)
    upcoming = next_check(record, stored.sent_notices, protocol)
    sweep_aws.repo.add_result("pt-k1", record.results[-1], stored.version, upcoming, AUDIT)
    assert [f.code for f in added] == ["platelets_below_100"]
    _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)
    (digest,) = sweep_aws.received("kiritimati-ms")
    assert digest["items"][0] == {
        "patient_id": "pt-k1",
        "kind": "finding",
        "code": "platelets_below_100",
        "date": "2026-11-21",
        "severity": "critical",
        "finding_id": "r-low:platelets_below_100",
        "alerted": True,  # critical and current: its alert goes out when it is stored (DESIGN 7)
    }
    assert [i["kind"] for i in digest["items"]].count("finding") == 1
    assert _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)["digests"] == []
    _run({"now": "2026-11-25T02:00:00Z"}, lambda_context)
    later = [i for d in sweep_aws.received("kiritimati-ms") for i in d["items"]]
    assert [i for i in later if i["kind"] == "finding"] == []


def test_sns_rejecting_fails_the_run_and_the_retry_delivers(sweep_aws: SweepAws, lambda_context: Any) -> None:
    _infused_patient(sweep_aws, "pt-k1", "kiritimati-ms", date(2026, 11, 20))
    sweep_aws.sns.delete_topic(TopicArn=sweep_aws.topic_arn)
    with pytest.raises(SweepError):
        _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)
    pending = DynamoOutbox(TABLE, region=REGION).pending("kiritimati-ms")
    assert pending, "nothing may be lost while SNS is down"
    # The topic is back (new subscriptions); Step Functions retries only the publish step.
    topic = sweep_aws.sns.create_topic(Name="digest-test")["TopicArn"]
    url = sweep_aws.queues["kiritimati-ms"]
    arn = sweep_aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sweep_aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    result = publish_fn.handler({}, lambda_context)
    assert len(result["digests"]) == 1
    assert len(sweep_aws.received("kiritimati-ms")) == 1
    assert DynamoOutbox(TABLE, region=REGION).pending("kiritimati-ms") == []


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _throttle(client: Any, operation: str, times: int) -> list[int]:
    """Answer the next `times` calls of `operation` with HTTP 400 ThrottlingException before they reach moto."""
    seen = [0]

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if request.headers.get("X-Amz-Target", b"").decode().endswith(operation) and seen[0] < times:
            seen[0] += 1
            body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow"})
            headers = HTTPHeaders()
            headers["Content-Type"] = "application/x-amz-json-1.0"
            return AWSResponse(request.url, 400, headers, _Body(body.encode()))
        return None

    client.meta.events.register("before-send.dynamodb.*", before_send)
    return seen


def test_dynamodb_throttling_is_retried_and_the_notice_goes_out(sweep_aws: SweepAws, lambda_context: Any) -> None:
    _infused_patient(sweep_aws, "pt-k1", "kiritimati-ms", date(2026, 11, 20))
    repo = DynamoPatientRepository(TABLE, region=REGION, due_shards=16)
    seen = _throttle(repo.client, "TransactWriteItems", 3)
    bootstrap.use(repository=repo)
    result = _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)
    assert seen[0] == 3
    assert len(result["digests"]) == 1


def test_throttling_past_the_retries_fails_loudly_and_loses_nothing(sweep_aws: SweepAws, lambda_context: Any) -> None:
    """The sweep write (marks, outbox page, profile: one transaction) still throttled after botocore's retries:
    the worker fails (Step Functions retries it), nothing was queued nor marked, and the next try delivers."""
    _infused_patient(sweep_aws, "pt-k1", "kiritimati-ms", date(2026, 11, 20))
    repo = DynamoPatientRepository(TABLE, region=REGION, due_shards=16)
    error = {"Error": {"Code": "ThrottlingException", "Message": "Rate of requests exceeds the allowed throughput"}}

    def throttled(**_: Any) -> Any:
        raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]

    repo.client.transact_write_items = throttled
    bootstrap.use(repository=repo)
    with pytest.raises(ClientError):
        _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)
    stored = sweep_aws.repo.get_patient("pt-k1")
    assert stored is not None
    assert stored.sent_notices == frozenset()  # nothing marked: the patient is still due
    assert DynamoOutbox(TABLE, region=REGION).pending("kiritimati-ms") == []  # and nothing queued
    bootstrap.use(repository=sweep_aws.repo)  # DynamoDB answers again
    result = _run({"now": "2026-11-24T02:00:00Z"}, lambda_context)
    assert len(result["digests"]) == 1


def test_a_page_is_retired_part_by_part_and_deleted_when_empty(sweep_aws: SweepAws) -> None:
    """Pages on DynamoDB (moto): entries of a part leave their page; a page with none left is deleted; an outbox
    that did not list the page refuses to guess what it holds."""
    add_patient(sweep_aws.repo, "p", "kiritimati-ms", date(2026, 11, 24))
    day = date(2026, 11, 24)
    page = OutboxPage("kiritimati-ms", day, 3, "run", 0)
    notices = tuple(
        QueuedNotice(f"k{n}", {"patient_id": "p", "kind": "milestone", "code": f"c{n}", "date": "2026-11-24"})
        for n in range(3)
    )
    sweep_aws.repo.record_sweep("p", day, ["k0", "k1", "k2"], 1, None, outbox=OutboxAppend(page, notices))
    outbox = DynamoOutbox(TABLE, region=REGION)
    pending = outbox.pending("kiritimati-ms")
    assert [(e.key, e.patient_id, e.item["code"]) for e in pending] == [
        ("k0", "p", "c0"),
        ("k1", "p", "c1"),
        ("k2", "p", "c2"),
    ]
    outbox.mark_sent(pending[:2], "m1")
    assert [e.key for e in DynamoOutbox(TABLE, region=REGION).pending("kiritimati-ms")] == ["k2"]
    with pytest.raises(OutboxError):  # an outbox that never listed the page cannot know what it still holds
        DynamoOutbox(TABLE, region=REGION).mark_sent(pending[2:], "m2")
    outbox.mark_sent(pending[2:], "m2")
    assert DynamoOutbox(TABLE, region=REGION).pending("kiritimati-ms") == []
    assert (
        sweep_aws.dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": "OUTBOX#kiritimati-ms"}, "sk": {"S": pending[0].page}}
        ).get("Item")
        is None
    )
    outbox.mark_sent(pending, "m1")  # a repeat changes nothing
    assert DynamoOutbox(TABLE, region=REGION).pending("kiritimati-ms") == []
