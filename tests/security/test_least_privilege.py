"""Least privilege by action: each function's policy grants exactly what its code calls, on what it calls it on.

The evidence is the code itself: every function's real handler runs under moto through a scenario that takes
each of its routes (successes, replays of an ``Idempotency-Key``, refusals and conflicts, a second page) or each
sweep step (plan, every shard, publish, and a patient changing while it is swept), while botocore's history
recorder notes every API call with its parameters. The calls become IAM actions on resources:

- DynamoDB operations on the table or, for a Query with ``IndexName``, on the index ARN; TransactWriteItems
  needs ``ConditionCheckItem``/``PutItem``/``UpdateItem``/``DeleteItem`` per item kind, on each item's table.
- SNS ``Publish``/``Subscribe`` on the topic; mobile push (DESIGN 9): ``CreatePlatformEndpoint`` on the platform
  application (a template parameter), ``Get``/``SetEndpointAttributes``/``DeleteEndpoint``/``Publish`` on that
  application's endpoints (``<parameter>/endpoints``: SNS mints their ARNs under the application's name).
- KMS on the customer managed key, through the service that uses it (``kms:ViaService``): a table encrypted
  with it needs ``kms:Decrypt`` for reads and ``kms:Decrypt`` + ``kms:GenerateDataKey`` for writes (DynamoDB);
  publishing to a topic encrypted with it needs ``kms:GenerateDataKey`` + ``kms:Decrypt`` (SNS).

The policy of template.yaml, expanded the same way, must equal that set: an action missing would fail in AWS,
an extra one is privilege creep.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.history import BaseHistoryHandler, get_global_history_recorder
from lemtrada import bootstrap
from lemtrada.notify.publisher import PublishError, SnsDigestPublisher
from lemtrada.services import sweep as sweep_service
from lemtrada.storage.repository import DynamoPatientRepository
from lemtrada.web import idempotency

from local.routes import find_route
from tests.conftest import ROOT
from tests.functional.api.conftest import (
    ADMIN,
    CLINIC,
    CLINICIAN,
    NOW,
    OTHER_CLINICIAN,
    PATIENT,
    create_tables,
    load_function,
)
from tests.functional.conftest import FUNCTION_ENV, FakeLambdaContext
from tests.security.gateway import Answer, _routes, send
from tests.support import bodies
from tests.support.cfn_yaml import references
from tests.unit.test_template import FUNCTIONS, RESOURCES, _statements

Grant = tuple[str, str, str]
"""(IAM action, resource, service the key is used through; "" for anything but KMS)."""

TABLES = {FUNCTION_ENV["TABLE_NAME"]: "RegimenTable", FUNCTION_ENV["IDEMPOTENCY_TABLE_NAME"]: "IdempotencyTable"}
TOPICS = {FUNCTION_ENV["TOPIC_ARN"]: "DigestTopic"}
PLATFORMS: dict[str, str] = {}  # platform application ARN (created in moto) -> its template parameter
ENDPOINTS = "/endpoints"  # suffix of a platform application parameter: the endpoints SNS mints under it
_ENDPOINT_OPERATIONS = {"SetEndpointAttributes", "DeleteEndpoint", "GetEndpointAttributes"}
FUNCTION_DIRS = {
    name: str(function["Properties"]["CodeUri"]).strip("/").removeprefix("functions/")
    for name, function in FUNCTIONS.items()
}
LOGICAL = {directory: name for name, directory in FUNCTION_DIRS.items()}

# DynamoDB operations that read or write items (what a table's encryption key is used for).
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "ConditionCheckItem"}
_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
_TRANSACT = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
_CONTROL = {"DescribeTable"}


# ---- recording ---------------------------------------------------------------------------------------------


class Recorder(BaseHistoryHandler):
    """Every botocore API call (the storage client, Powertools and boto3 clients alike), attributed to a function."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self.routes: dict[str, set[str]] = defaultdict(set)

    def emit(self, event_type: str, payload: Any, source: str) -> None:
        if event_type == "API_CALL" and self.stack:
            self.calls[self.stack[-1]].append((payload["service"], payload["operation"], dict(payload["params"])))

    @contextmanager
    def running(self, function: str, step: str) -> Iterator[None]:
        self.routes[function].add(step)
        self.stack.append(function)
        try:
            yield
        finally:
            self.stack.pop()


def _table(name: str) -> str:
    return TABLES[name]


def _dynamodb_grants(operation: str, params: dict[str, Any]) -> set[tuple[str, str]]:
    if operation == "TransactWriteItems":
        out = set()
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            out.add((f"dynamodb:{_TRANSACT[kind]}", _table(body["TableName"])))
        return out
    if operation == "TransactGetItems":
        return {("dynamodb:GetItem", _table(i["Get"]["TableName"])) for i in params["TransactItems"]}
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return {(f"dynamodb:{operation}", _table(name)) for name in params["RequestItems"]}
    if operation in _READS | _WRITES | _CONTROL:
        resource = _table(params["TableName"])
        if "IndexName" in params:
            resource = f"{resource}/index/{params['IndexName']}"
        return {(f"dynamodb:{operation}", resource)}
    raise AssertionError(f"map the DynamoDB operation {operation} to its IAM actions")


def _key_of(resource: str) -> str | None:
    """The customer managed key a table or topic is encrypted with (None: an AWS owned or managed key)."""
    props = RESOURCES[resource.split("/", 1)[0]]["Properties"]
    key = props.get("SSESpecification", {}).get("KMSMasterKeyId") or props.get("KmsMasterKeyId")
    return next(iter(references(key)), None) if key else None


def grants_for(calls: list[tuple[str, str, dict[str, Any]]]) -> set[Grant]:
    """IAM actions (with the KMS use they imply) for a function's recorded calls."""
    out: set[Grant] = set()
    for service, operation, params in calls:
        if service == "dynamodb":
            for action, resource in _dynamodb_grants(operation, params):
                out.add((action, resource, ""))
                key = _key_of(resource)
                name = action.removeprefix("dynamodb:")
                if key and name in _READS | _WRITES:
                    out.add(("kms:Decrypt", key, "dynamodb"))
                if key and name in _WRITES:
                    out.add(("kms:GenerateDataKey", key, "dynamodb"))
        elif service == "sns" and operation in ("Publish", "Subscribe") and "TopicArn" in params:
            topic = TOPICS[params["TopicArn"]]
            out.add((f"sns:{operation}", topic, ""))
            key = _key_of(topic)
            if key and operation == "Publish":
                out |= {("kms:GenerateDataKey", key, "sns"), ("kms:Decrypt", key, "sns")}
        elif service == "sns" and operation == "Publish" and "TargetArn" in params:
            out.add(("sns:Publish", _application_of(params["TargetArn"]), ""))
        elif service == "sns" and operation == "CreatePlatformEndpoint":
            out.add(("sns:CreatePlatformEndpoint", PLATFORMS[params["PlatformApplicationArn"]], ""))
        elif service == "sns" and operation in _ENDPOINT_OPERATIONS:
            out.add((f"sns:{operation}", _application_of(params["EndpointArn"]), ""))
        else:
            raise AssertionError(f"map the {service} operation {operation} to its IAM actions")
    return out


def _application_of(endpoint_arn: str) -> str:
    """``<parameter>/endpoints`` for an endpoint ARN (``...:endpoint/<PLATFORM>/<app>/<id>``) of an application the
    scenario created."""
    prefix, found, rest = endpoint_arn.partition(":endpoint/")
    assert found, endpoint_arn
    application = f"{prefix}:app/{rest.rpartition('/')[0]}"
    return PLATFORMS[application] + ENDPOINTS


# ---- the template's side -----------------------------------------------------------------------------------


def _resource_name(value: Any) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        return str(logical)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::If" in value:
        return _resource_name(value["Fn::If"][1])  # the configured branch (the other names no application)
    if isinstance(value, dict) and "Fn::Join" in value:
        return _endpoints_of(value)
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        if text.startswith("${") and ".Arn}/index/" in text:
            logical, _, index = text[2:].partition(".Arn}/index/")
            return f"{logical}/index/{index}"
    raise AssertionError(f"resource {value!r} is not a table, index, topic or key of the template")


def _endpoints_of(value: Any) -> str:
    """The one form a grant on endpoints may take: an application parameter's ARN with ``:app/`` read as
    ``:endpoint/``, then ``/*`` (its endpoints, no other application's, no other account's)."""
    parts = value["Fn::Join"][1]
    parameter = parts[0]["Fn::Select"][1]["Fn::Split"][1]["Ref"]
    expected = [
        {"Fn::Select": [0, {"Fn::Split": [":app/", {"Ref": parameter}]}]},
        ":endpoint/",
        {"Fn::Select": [1, {"Fn::Split": [":app/", {"Ref": parameter}]}]},
        "/*",
    ]
    assert value["Fn::Join"][0] == "", value
    assert parts == expected, value
    assert parameter in ("ApnsPlatformApplicationArn", "FcmPlatformApplicationArn"), value
    return f"{parameter}{ENDPOINTS}"


def _via(statement: dict[str, Any]) -> set[str]:
    """Services a KMS statement is limited to ({"*"}: any caller, which no function needs)."""
    condition = statement.get("Condition")
    if not condition:
        return {"*"}
    assert set(condition) == {"StringEquals"}, statement
    assert set(condition["StringEquals"]) == {"kms:ViaService"}, statement
    values = condition["StringEquals"]["kms:ViaService"]
    out = set()
    for value in values if isinstance(values, list) else [values]:
        text = value["Fn::Sub"] if isinstance(value, dict) else value
        service, _, rest = str(text).partition(".")
        assert rest == "${AWS::Region}.amazonaws.com", value
        out.add(service)
    return out


def granted(function: str) -> set[Grant]:
    out: set[Grant] = set()
    for statement in _statements(FUNCTIONS[function]["Properties"].get("Policies", []), function):
        assert statement["Effect"] == "Allow", statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            for resource in resources:
                if str(action).startswith("kms:"):
                    out |= {(str(action), _resource_name(resource), via) for via in _via(statement)}
                else:
                    assert "Condition" not in statement, statement
                    out.add((str(action), _resource_name(resource), ""))
    return out


# ---- the scenario ------------------------------------------------------------------------------------------


class Scenario:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.context = FakeLambdaContext()

    def http(
        self,
        method: str,
        url: str,
        claims: dict[str, str] = CLINICIAN,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        routes, functions = _routes()
        found = find_route(routes, method, url.partition("?")[0])
        assert found is not None, url
        route = found[0]
        sent = {"content-type": "application/json", **(headers or {})} if body is not None else dict(headers or {})
        raw = json.dumps(body).encode() if body is not None else b""
        with self.recorder.running(LOGICAL[functions[route.function]], f"{route.method} {route.path}"):
            return send(method, url, claims=claims, headers=sent, body=raw)

    def raw(self, url: str, claims: dict[str, str], body: str, media: str) -> Answer:
        """A POST whose body is not the API's JSON (the lab route's FHIR and HL7 documents)."""
        routes, functions = _routes()
        found = find_route(routes, "POST", url)
        assert found is not None, url
        route = found[0]
        with self.recorder.running(LOGICAL[functions[route.function]], f"{route.method} {route.path}"):
            return send("POST", url, claims=claims, headers={"content-type": media}, body=body.encode())

    def invoke(self, directory: str, event: dict[str, Any], step: str) -> Any:
        with self.recorder.running(LOGICAL[directory], step):
            return load_function(directory).handler(event, self.context)


def _infusion(day: str, dose: float = 12) -> dict[str, Any]:
    return bodies.infusion(day, dose_mg=dose)


def _enrollment(**changes: Any) -> dict[str, Any]:
    return bodies.enrollment(**{"external_ref": None, **changes})


def run_api(s: Scenario) -> dict[str, str]:
    """Every API route: writes with and without a key, replays, refusals that undo the key's record, reads."""
    clinic = {"name": "Lyon MS", "timezone": "Europe/Paris", "label": "US"}
    assert s.http("PUT", f"/clinics/{CLINIC}", ADMIN, clinic, {"idempotency-key": "c-1"}).status == 201
    assert s.http("PUT", f"/clinics/{CLINIC}", ADMIN, clinic, {"idempotency-key": "c-1"}).status == 201  # replay
    renamed = {**clinic, "name": "Lyon MS centre"}
    assert s.http("PUT", f"/clinics/{CLINIC}", ADMIN, renamed, {"if-match": '"1"'}).status == 200
    stale = s.http("PUT", f"/clinics/{CLINIC}", ADMIN, renamed, {"if-match": '"1"', "idempotency-key": "c-2"})
    assert stale.status == 409  # the key's record is removed again
    ids = {}
    for name, sub in (("a", PATIENT["sub"]), ("b", None), ("c", None)):
        body = _enrollment(external_ref=f"REF-{name}")
        if sub is not None:
            body["patient_sub"] = sub
        answer = s.http("POST", "/patients", CLINICIAN, body, {"idempotency-key": f"p-{name}"})
        assert answer.status == 201, answer.body
        ids[name] = answer.json()["patient_id"]
    # An enrollment with history (DESIGN 8): its recent critical finding is alerted (published, then forgotten).
    onboarding = bodies.sample_body("enrollment", "post_patients_history")
    assert s.http("POST", "/patients", CLINICIAN, onboarding, {"idempotency-key": "p-h"}).status == 201
    minor = s.http("POST", "/patients", CLINICIAN, _enrollment(birth_date="2015-01-01"), {"idempotency-key": "p-x"})
    assert minor.status == 422
    first = s.http("GET", "/patients?limit=1")
    assert first.status == 200
    assert s.http("GET", f"/patients?limit=1&cursor={first.json()['next_cursor']}").status == 200
    patch = {"active_infection": False}
    assert s.http("PATCH", f"/patients/{ids['c']}", CLINICIAN, patch, {"idempotency-key": "x-1"}).status == 200
    assert s.http("PATCH", f"/patients/{ids['c']}", CLINICIAN, patch, {"if-match": '"1"'}).status == 409
    # recording: infusions (10 mg owes a deviation notice to the sweep), a replay, a conflict, results
    for name in ("a", "b"):
        url = f"/patients/{ids[name]}/infusions"
        answer = s.http("POST", url, CLINICIAN, _infusion("2026-11-20", 10), {"idempotency-key": f"i-{name}"})
        assert answer.status == 201, answer.body
    url = f"/patients/{ids['a']}/infusions"
    assert s.http("POST", url, CLINICIAN, _infusion("2026-11-20", 10), {"idempotency-key": "i-a"}).status == 201
    assert s.http("POST", url, CLINICIAN, _infusion("2026-11-20", 10)).status == 200  # identical replay
    assert s.http("POST", url, CLINICIAN, _infusion("2026-11-20", 12), {"idempotency-key": "i-z"}).status == 409
    result = {"item": "cbc", "date": "2026-11-23", "value": 5.1, "unit": "g/L"}
    assert s.http("POST", f"/patients/{ids['a']}/results", CLINICIAN, result, {"idempotency-key": "r-1"}).status == 201
    assert s.http("POST", f"/patients/{ids['a']}/results", CLINICIAN, result).status == 201
    low = {"item": "cbc", "date": "2026-11-23", "analytes": [{"code": "platelets", "value": 15, "unit": "10*9/L"}]}
    raised = s.http("POST", f"/patients/{ids['a']}/results", CLINICIAN, low)
    assert raised.status == 201, raised.body
    ack = {"kind": "finding", "ref": raised.json()["findings"][0]["finding_id"], "action": "reviewed"}
    url = f"/patients/{ids['a']}/acknowledgements"
    assert s.http("POST", url, CLINICIAN, ack, {"idempotency-key": "k-1"}).status == 201
    assert s.http("POST", url, CLINICIAN, ack).status == 200  # acknowledged before: the stored one
    # lab interfaces (DESIGN 10): a Bundle naming the patient by external_ref (its critical platelets are alerted at
    # once), the same Bundle again (answered from the receipts), an ORU^R01 adding to the stored results
    lab = {
        "sub": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "cognito:groups": "[lab_interfaces]",
        "custom:clinic_id": CLINIC,
    }
    url = f"/clinics/{CLINIC}/lab-results"
    bundle = (ROOT / "events" / "lab_results" / "cbc_tsh_bundle.fhir.json").read_text(encoding="utf-8")
    bundle = bundle.replace("LYON-000412", "REF-a").replace("2026-11-20T08:10:00+01:00", "2026-11-21")
    for _ in range(2):
        answer = s.raw(url, lab, bundle, "application/fhir+json")
        assert answer.status == 200, answer.body
    oru = (ROOT / "events" / "lab_results" / "cbc_tsh_oru_r01.hl7").read_text(encoding="utf-8")
    answer = s.raw(url, lab, oru.replace("LYON-000412", "REF-b"), "application/hl7-v2")
    assert answer.status == 200, answer.body
    assert b"MSA|AA|" in answer.body
    # reading: every route
    for path in ("", "/results", "/readiness", "/schedule", "/schedule.ics", "/fhir"):
        assert s.http("GET", f"/patients/{ids['a']}{path}").status == 200
    assert s.http("GET", f"/clinics/{CLINIC}/worklist").status == 200  # today: the WorklistIndex
    assert s.http("GET", f"/clinics/{CLINIC}/worklist?date=2030-01-01").status == 200  # another date: every patient
    rebuild = s.http("POST", f"/clinics/{CLINIC}/worklist/rebuild", ADMIN, {"scope": "all"}, {"idempotency-key": "w"})
    assert rebuild.status == 200, rebuild.body  # the clinic's patients by id, each read and compared
    assert s.http("GET", "/me", PATIENT).status == 200
    for path in ("/docs", "/openapi.json", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"):
        assert s.http("GET", path).status == 200, path  # public: served from the function package and the layer
    # subscriptions: a subscription, its replay, another clinic's clinician refused
    subscription = {"email": "ms-team@clinic.example"}
    url = f"/clinics/{CLINIC}/subscriptions"
    assert s.http("POST", url, CLINICIAN, subscription, {"idempotency-key": "s-1"}).status == 202
    assert s.http("POST", url, CLINICIAN, subscription, {"idempotency-key": "s-1"}).status == 202
    assert s.http("POST", url, OTHER_CLINICIAN, subscription, {"idempotency-key": "s-2"}).status == 404  # record undone
    assert s.http("GET", "/health").status == 200
    return ids


def run_sweep(s: Scenario, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan, every shard, publish; patient "b" is withdrawn while it is swept: its write loses the race (nothing of
    it is queued) and the worker reads it again."""
    record_sweep: Callable[..., int] = DynamoPatientRepository.record_sweep
    raced: list[str] = []

    def withdraw_then_record(repo: DynamoPatientRepository, patient_id: str, *args: Any, **kwargs: Any) -> int:
        if patient_id == ids["b"] and not raced:
            raced.append(patient_id)  # a clinician records the withdrawal meanwhile
            answer = s.http("PATCH", f"/patients/{patient_id}", CLINICIAN, {"withdrawn": True})
            assert answer.status == 200, answer.body
        return record_sweep(repo, patient_id, *args, **kwargs)

    monkeypatch.setattr(DynamoPatientRepository, "record_sweep", withdraw_then_record)
    # Small digest parts, so a part retires only some notices of an outbox page (an UpdateItem, not a DeleteItem).
    monkeypatch.setattr(sweep_service, "DIGEST_LIMIT", 2200)
    # An hourly run as the state machine hands it over: 07:00 in Lyon, past the clinic's digest_hour (6), so the
    # plan claims the clinic's lease and publish completes it.
    hourly = {"input": {"now": "2026-11-24T06:00:00Z"}, "execution": "exec-least-privilege"}
    plan = s.invoke("sweep_plan", hourly, "plan")
    assert plan["clinics"][CLINIC]["date"] == "2026-11-24"
    results = [s.invoke("sweep_worker", {"shard": n, "clinics": plan["clinics"]}, "worker") for n in plan["shards"]]
    published = s.invoke("sweep_publish", {"clinics": plan["clinics"], "run_id": plan["run_id"]}, "publish")
    assert raced == [ids["b"]]
    assert sum(r["conflicts"] for r in results) == 1
    assert {d["clinic_id"] for d in published["digests"]} == {CLINIC}
    assert len(published["digests"]) > 1


def run_alert_drain(s: Scenario, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """SNS refuses a critical result's alert to its writer (which gives the claim back); the minute drain then
    claims, publishes and forgets it."""

    def refused(publisher: SnsDigestPublisher, message: Any) -> str:
        raise PublishError("throttled")

    low = {"item": "cbc", "date": "2026-11-22", "analytes": [{"code": "platelets", "value": 12, "unit": "10*9/L"}]}
    with monkeypatch.context() as patch:
        patch.setattr(SnsDigestPublisher, "publish", refused)
        assert s.http("POST", f"/patients/{ids['a']}/results", CLINICIAN, low).status == 201
    drained = s.invoke("alert_drain", {"source": "aws.scheduler"}, "alert_drain")
    assert drained["sent"] == 1, drained


def run_reminders(s: Scenario, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Patient "a" registers two phones (one replaced, one deleted again), turns reminders off and on; the hourly
    run pushes its first due tests; a phone SNS disabled is marked, and registering it again enables it."""
    sns = boto3.client("sns", region_name="eu-west-1")
    for platform, parameter, env in (
        ("APNS", "ApnsPlatformApplicationArn", "APNS_PLATFORM_APPLICATION_ARN"),
        ("GCM", "FcmPlatformApplicationArn", "FCM_PLATFORM_APPLICATION_ARN"),
    ):
        arn = sns.create_platform_application(Name=f"app-{platform}", Platform=platform, Attributes={})
        PLATFORMS[arn["PlatformApplicationArn"]] = parameter
        monkeypatch.setenv(env, arn["PlatformApplicationArn"])
    bootstrap.use(clock=lambda: NOW)
    iphone = {"platform": "apns", "token": "a" * 64}
    assert s.http("PUT", "/me/devices/iphone", PATIENT, iphone, {"idempotency-key": "d-1"}).status == 201
    assert s.http("PUT", "/me/devices/iphone", PATIENT, iphone).status == 200  # the same body: nothing changes
    pixel = {"platform": "fcm", "token": "pixel-token"}
    assert s.http("PUT", "/me/devices/pixel", PATIENT, pixel).status == 201
    assert s.http("PUT", "/me/devices/pixel", PATIENT, {"platform": "fcm", "token": "pixel-new"}).status == 200
    assert s.http("PUT", "/me/devices/old", PATIENT, {"platform": "fcm", "token": "old-token"}).status == 201
    assert s.http("DELETE", "/me/devices/old", PATIENT).status == 204
    assert s.http("PUT", "/me/reminders", PATIENT, {"enabled": False}).status == 200
    assert s.http("PUT", "/me/reminders", PATIENT, {"enabled": True}, {"idempotency-key": "r-2"}).status == 200
    assert s.http("GET", "/me/devices", PATIENT).status == 200
    assert s.http("GET", "/me/devices", CLINICIAN).status == 404
    refused = s.http("PUT", "/me/reminders", CLINICIAN, {"enabled": True}, {"idempotency-key": "r-3"})
    assert refused.status == 404  # the key's record is removed again
    endpoint = next(
        e
        for e in sns.list_endpoints_by_platform_application(
            PlatformApplicationArn=next(arn for arn, name in PLATFORMS.items() if name == "FcmPlatformApplicationArn")
        )["Endpoints"]
        if e["Attributes"]["Token"] == "pixel-new"
    )
    sns.set_endpoint_attributes(EndpointArn=endpoint["EndpointArn"], Attributes={"Enabled": "false"})
    # 09:05 in Lyon on the day patient a's first monthly window opens (infusion 2026-11-20: D1 2026-12-20).
    run = s.invoke("reminders", {"now": "2026-12-13T08:05:00Z"}, "reminders")
    assert (run["pushed"], run["disabled"]) == (1, 1), run
    assert s.http("PUT", "/me/devices/pixel", PATIENT, {"platform": "fcm", "token": "pixel-new"}).status == 200
    # The app reinstalled (new device id, the iPhone's token): SNS answers its endpoint, taken over (APNS).
    assert s.http("PUT", "/me/devices/iphone-2", PATIENT, iphone).status == 201
    assert s.http("PUT", "/me/devices/ipad", PATIENT, {"platform": "apns", "token": "b" * 64}).status == 201
    assert s.http("DELETE", "/me/devices/ipad", PATIENT).status == 204


@pytest.fixture(scope="module")
def recorded() -> Recorder:
    """The whole scenario once, under moto, with the shared environment of template.yaml's Globals."""
    from moto import mock_aws

    recorder = Recorder()
    history = get_global_history_recorder()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in FUNCTION_ENV.items():
            monkeypatch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SNS", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        with mock_aws():
            create_tables()
            boto3.client("sns", region_name="eu-west-1").create_topic(Name="digest-test")
            idempotency.reset()
            bootstrap.use(clock=lambda: NOW)
            history.add_handler(recorder)
            history.enable()
            try:
                scenario = Scenario(recorder)
                ids = run_api(scenario)
                run_sweep(scenario, ids, monkeypatch)
                run_alert_drain(scenario, ids, monkeypatch)
                run_reminders(scenario, ids, monkeypatch)
            finally:
                history.disable()
                vars(history)["_handlers"].remove(recorder)  # botocore offers no remove_handler
                bootstrap.use()
                idempotency.reset()
    return recorder


def _template_steps(function: str) -> set[str]:
    events = FUNCTIONS[function]["Properties"].get("Events", {})
    http = [e["Properties"] for e in events.values() if e["Type"] == "HttpApi"]
    routes = {f"{e['Method']} {e['Path']}" for e in http}
    return routes or {FUNCTION_DIRS[function].removeprefix("sweep_")}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_scenario_runs_every_route_or_step_of_the_function(recorded: Recorder, function: str) -> None:
    assert recorded.routes[function] == _template_steps(function)
    assert recorded.calls[function], f"{function} made no AWS call"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_policy_grants_exactly_what_the_code_calls(recorded: Recorder, function: str) -> None:
    used = grants_for(recorded.calls[function])
    policy = granted(function)
    missing, extra = sorted(used - policy), sorted(policy - used)
    assert (missing, extra) == ([], []), f"{function}: missing (fails in AWS) {missing}; extra (creep) {extra}"
