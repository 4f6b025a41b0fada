"""template.yaml holds what issue 2 asks of the infrastructure, and every function gets only what it calls.

These checks read the template as data (short tags included); `make lint` adds SAM's validation, cfn-lint and
checkov on top.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lemtrada.web.openapi import PUBLIC_OPERATIONS

from tests.support.cfn_yaml import load_template, references

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE["Globals"]["Function"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}

SHARED_ENV = {
    "TABLE_NAME",
    "IDEMPOTENCY_TABLE_NAME",
    "TOPIC_ARN",
    "DUE_SHARDS",
    "STAGE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}

# What each function may name in its policies. A new function declares its needs here, so a review sees them.
POLICY_RESOURCES: dict[str, set[str]] = {
    "HealthFunction": {"RegimenTable"},
    # The patient API (issue 4): writers keep idempotency records; everyone reads through RegimenKey.
    "EnrollmentFunction": {"RegimenTable", "IdempotencyTable", "RegimenKey", "DigestTopic"},  # history alerts
    "RecordingFunction": {"RegimenTable", "IdempotencyTable", "RegimenKey", "DigestTopic"},  # alerts (DESIGN 7)
    "ReadingFunction": {"RegimenTable", "RegimenKey"},
    # The nightly sweep (issue 5): DynamoDB tables are encrypted with RegimenKey, the topic too.
    "SweepPlanFunction": {"RegimenTable", "RegimenKey"},
    "SweepWorkerFunction": {"RegimenTable", "RegimenKey"},
    "SweepPublishFunction": {"RegimenTable", "DigestTopic", "RegimenKey"},
    "SubscriptionsFunction": {"RegimenTable", "IdempotencyTable", "DigestTopic", "RegimenKey"},
    # The minute drain of owed alerts (DESIGN 7): reads and claims them in the table, publishes to the topic.
    "AlertDrainFunction": {"RegimenTable", "DigestTopic", "RegimenKey"},
    # Lab interfaces (DESIGN 10): results and receipts in the table, critical alerts at once to the topic.
    "LabResultsFunction": {"RegimenTable", "DigestTopic", "RegimenKey"},
    # Patient reminders (DESIGN 9): endpoints on the platform applications (parameters); the run publishes to those
    # applications' endpoints (ARNs derived from the parameters).
    "DevicesFunction": {
        "RegimenTable",
        "IdempotencyTable",
        "RegimenKey",
        "ApnsPlatformApplicationArn",
        "FcmPlatformApplicationArn",
    },
    "ReminderFunction": {"RegimenTable", "RegimenKey", "ApnsPlatformApplicationArn", "FcmPlatformApplicationArn"},
}
# Resources a policy may point at at all: the data stores, the topic, the key that encrypts them, the platform
# applications of patient reminders.
DATA_RESOURCES = {
    "RegimenTable",
    "IdempotencyTable",
    "DigestTopic",
    "RegimenKey",
    "ApnsPlatformApplicationArn",
    "FcmPlatformApplicationArn",
}


def _resource(name: str, kind: str) -> dict[str, Any]:
    resource = RESOURCES[name]
    assert resource["Type"] == kind
    return resource


def _props(name: str) -> dict[str, Any]:
    props: dict[str, Any] = RESOURCES[name]["Properties"]
    return props


# ---- globals and layer ------------------------------------------------------------------------------------------


def test_globals_run_python313_on_arm64_with_tracing_and_the_core_layer() -> None:
    assert GLOBAL_FUNCTION["Runtime"] == "python3.13"
    assert GLOBAL_FUNCTION["Architectures"] == ["arm64"]
    assert GLOBAL_FUNCTION["Tracing"] == "Active"
    assert GLOBAL_FUNCTION["Handler"] == "app.handler"
    assert GLOBAL_FUNCTION["Layers"] == [{"Ref": "CoreLayer"}]


def test_globals_give_every_function_the_shared_environment() -> None:
    env = GLOBAL_FUNCTION["Environment"]["Variables"]
    assert set(env) >= SHARED_ENV
    assert env["TABLE_NAME"] == {"Ref": "RegimenTable"}
    assert env["IDEMPOTENCY_TABLE_NAME"] == {"Ref": "IdempotencyTable"}
    assert env["TOPIC_ARN"] == {"Ref": "DigestTopic"}
    assert env["DUE_SHARDS"] == "16"
    assert env["STAGE"] == {"Ref": "Stage"}


def test_no_function_overrides_runtime_or_architecture() -> None:
    for name, function in FUNCTIONS.items():
        props = function["Properties"]
        assert "Runtime" not in props, name
        assert "Architectures" not in props, name


def test_core_layer_is_built_by_sam_for_python313_on_arm64() -> None:
    layer = _resource("CoreLayer", "AWS::Serverless::LayerVersion")
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    props = layer["Properties"]
    assert props["ContentUri"] == "layers/core/"
    assert props["CompatibleRuntimes"] == ["python3.13"]
    assert props["CompatibleArchitectures"] == ["arm64"]
    assert (ROOT / "layers/core/requirements.txt").is_file()


# ---- data -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["RegimenTable", "IdempotencyTable"])
def test_tables_are_protected_and_encrypted_with_the_customer_key(table: str) -> None:
    resource = _resource(table, "AWS::DynamoDB::Table")
    props = resource["Properties"]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["DeletionProtectionEnabled"] is True
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "RegimenKey"}}


def test_customer_key_rotates_and_is_kept() -> None:
    key = _resource("RegimenKey", "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_regimen_table_keys() -> None:
    props = _props("RegimenTable")
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    names = ("pk", "sk", "due_shard", "next_check", "clinic_key", "patient_id", "worklist_clinic", "worklist_rank")
    assert types == dict.fromkeys(names, "S")


def test_regimen_table_indexes_match_the_architecture() -> None:
    indexes = {i["IndexName"]: i for i in _props("RegimenTable")["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"DueIndex", "ClinicPatientsIndex", "WorklistIndex"}
    assert indexes["DueIndex"]["KeySchema"] == [
        {"AttributeName": "due_shard", "KeyType": "HASH"},
        {"AttributeName": "next_check", "KeyType": "RANGE"},
    ]
    assert indexes["DueIndex"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["clinic_id"]}
    assert indexes["ClinicPatientsIndex"]["KeySchema"] == [
        {"AttributeName": "clinic_key", "KeyType": "HASH"},
        {"AttributeName": "patient_id", "KeyType": "RANGE"},
    ]
    assert indexes["ClinicPatientsIndex"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["xr"]}
    assert indexes["WorklistIndex"]["KeySchema"] == [
        {"AttributeName": "worklist_clinic", "KeyType": "HASH"},
        {"AttributeName": "worklist_rank", "KeyType": "RANGE"},
    ]
    assert indexes["WorklistIndex"]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["xr", "ws", "wi", "wd", "wc"],
    }


def test_idempotency_table_has_the_powertools_layout_and_ttl() -> None:
    props = _props("IdempotencyTable")
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize("topic", ["DigestTopic", "AlarmTopic"])
def test_topics_are_encrypted_with_the_customer_key(topic: str) -> None:
    assert _resource(topic, "AWS::SNS::Topic")["Properties"]["KmsMasterKeyId"] == {"Ref": "RegimenKey"}


@pytest.mark.parametrize("log_group", [n for n, r in RESOURCES.items() if r["Type"] == "AWS::Logs::LogGroup"])
def test_log_groups_keep_logs_for_a_bounded_time_and_are_encrypted(log_group: str) -> None:
    props = _props(log_group)
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["RegimenKey", "Arn"]}


# ---- identity and API -------------------------------------------------------------------------------------------


def test_user_pool_has_the_four_groups() -> None:
    groups = {
        r["Properties"]["GroupName"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Cognito::UserPoolGroup" and r["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    }
    assert groups == {"clinicians", "patients", "admins", "lab_interfaces"}


def test_user_pool_has_clinic_id_that_users_cannot_change_themselves() -> None:
    pool = _props("UserPool")
    assert any(a["Name"] == "clinic_id" and a["AttributeDataType"] == "String" for a in pool["Schema"])
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["DeletionProtection"] == "ACTIVE"
    client = _props("UserPoolClient")
    assert "custom:clinic_id" in client["ReadAttributes"]
    assert "custom:clinic_id" not in client["WriteAttributes"]
    assert client["GenerateSecret"] is False  # a mobile app cannot keep a secret


def test_http_api_uses_the_cognito_jwt_authorizer_by_default() -> None:
    auth = _resource("HttpApi", "AWS::Serverless::HttpApi")["Properties"]["Auth"]
    name = auth["DefaultAuthorizer"]
    jwt = auth["Authorizers"][name]
    assert jwt["IdentitySource"] == "$request.header.Authorization"
    issuer = jwt["JwtConfiguration"]["issuer"]
    assert issuer == {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"}
    # The apps' client and the clinician console's (tests/unit/test_template_console.py).
    assert jwt["JwtConfiguration"]["audience"] == [{"Ref": "UserPoolClient"}, {"Ref": "ConsoleUserPoolClient"}]


def test_http_api_writes_access_logs_without_bodies() -> None:
    settings = _props("HttpApi")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    for field in ("$context.requestId", "$context.routeKey", "$context.status"):
        assert field in settings["Format"]
    assert "body" not in settings["Format"].lower()


def _http_events(function: dict[str, Any]) -> list[dict[str, Any]]:
    events = function["Properties"].get("Events", {})
    return [e["Properties"] for e in events.values() if e["Type"] == "HttpApi"]


# The API's documentation: a browser opens it without a token (issue 10). Everything else needs one.
PUBLIC_ROUTES = {
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/docs/swagger-ui.css"),
    ("GET", "/docs/swagger-ui-bundle.js"),
}


def _routes() -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """Every HttpApi event as (method, path) -> (function, event properties); fails on a route defined twice."""
    routes: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for name, function in FUNCTIONS.items():
        for event in _http_events(function):
            key = (event["Method"], event["Path"])
            assert key not in routes, f"{key} is defined twice"
            routes[key] = (name, event)
    return routes


def test_every_route_is_on_the_api_and_all_but_the_docs_behind_the_authorizer() -> None:
    routes = _routes()
    assert ("GET", "/health") in routes
    assert set(routes) >= PUBLIC_ROUTES
    for key, (name, event) in routes.items():
        assert event["ApiId"] == {"Ref": "HttpApi"}, name
        auth = event.get("Auth", {})
        if key in PUBLIC_ROUTES:
            assert auth == {"Authorizer": "NONE"}, f"{name} {key}: public with no other auth setting"
            assert name == "ReadingFunction", f"{key} is served by the function that ships the document"
        else:
            assert auth == {}, f"{name} {key}: takes the default JWT authorizer, no override"


def test_public_routes_are_throttled_like_every_route() -> None:
    """Throttling is the stage's default route settings, with no per-route exception that could lift it."""
    api = _props("HttpApi")
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert api["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert "RouteSettings" not in api


def test_public_operations_of_the_document_are_the_public_routes_it_lists() -> None:
    """The document marks as public (``security: []``) exactly the unauthenticated routes it describes."""
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    listed = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    public = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == []
    }
    assert public == {(method.upper(), path) for method, path in PUBLIC_OPERATIONS} == PUBLIC_ROUTES & listed
    assert listed == set(_routes()) - (PUBLIC_ROUTES - public), "the document lists every route but the assets"


def test_parameters_and_outputs() -> None:
    assert {"Stage", "ScheduleTimezone", "AlarmEmail"} <= set(TEMPLATE["Parameters"])
    assert {"ApiUrl", "UserPoolId", "UserPoolClientId", "RegimenTableName", "DigestTopicArn"} <= set(
        TEMPLATE["Outputs"]
    )


# ---- functions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_code_exists_where_the_template_says(name: str) -> None:
    props = FUNCTIONS[name]["Properties"]
    code_uri = props["CodeUri"]
    assert code_uri.startswith("functions/")
    assert code_uri.endswith("/")
    handler = props.get("Handler", GLOBAL_FUNCTION["Handler"])
    module, _, function = handler.partition(".")
    source = (ROOT / code_uri / f"{module}.py").read_text(encoding="utf-8")
    assert f"def {function}(" in source


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_logs_to_its_own_group_with_retention(name: str) -> None:
    log_group = FUNCTIONS[name]["Properties"]["LoggingConfig"]["LogGroup"]
    assert log_group["Ref"] in RESOURCES
    assert RESOURCES[log_group["Ref"]]["Type"] == "AWS::Logs::LogGroup"


def _statements(policies: list[Any], name: str) -> list[dict[str, Any]]:
    """Inline statements; SAM policy templates become the resources they name; managed policies are refused."""
    statements: list[dict[str, Any]] = []
    for policy in policies:
        assert not isinstance(policy, str), f"{name}: managed policy {policy} is broader than what it calls"
        if "Statement" in policy:
            statements.extend(policy["Statement"])
        else:  # a SAM policy template such as {"DynamoDBReadPolicy": {"TableName": {"Ref": ...}}}
            ((template, args),) = policy.items()
            statements.append({"Effect": "Allow", "Action": template, "Resource": args})
    return statements


def test_every_function_declares_what_it_may_touch() -> None:
    assert set(FUNCTIONS) <= set(POLICY_RESOURCES), "add new functions to POLICY_RESOURCES with what they call"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_policy_names_only_the_resources_it_needs(name: str) -> None:
    statements = _statements(FUNCTIONS[name]["Properties"].get("Policies", []), name)
    named: set[str] = set()
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in str(action) for action in actions), f"{name}: wildcard action {actions}"
        assert statement["Resource"] != "*", f"{name}: Resource '*'"
        named |= references(statement["Resource"])
    assert named <= DATA_RESOURCES, f"{name} names {named - DATA_RESOURCES}"
    assert named == POLICY_RESOURCES.get(name, set()), f"{name} names {sorted(named)}"


def test_health_may_only_describe_the_regimen_table() -> None:
    (statement,) = _statements(FUNCTIONS["HealthFunction"]["Properties"]["Policies"], "HealthFunction")
    assert statement == {
        "Effect": "Allow",
        "Action": "dynamodb:DescribeTable",
        "Resource": {"Fn::GetAtt": ["RegimenTable", "Arn"]},
    }


# ---- checkov skips ----------------------------------------------------------------------------------------------


def test_every_checkov_skip_gives_its_reason() -> None:
    for name, resource in RESOURCES.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV"), name
            assert len(skip.get("comment", "")) > 20, f"{name}: {skip['id']} skipped without a reason"


# What each checkov skip claims, checked against the template and the state machine definition.
ASL: dict[str, Any] = json.loads((ROOT / "statemachine" / "sweep.asl.json").read_text(encoding="utf-8"))
_API_NAMES = {"dynamodb": "DynamoDB", "sns": "SNS", "sqs": "SQS", "s3": "S3", "lambda": "Lambda"}


def _asl_tasks(states: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every Task state with the Map state around it (None at the top level)."""
    for state in states.values():
        if state["Type"] == "Task":
            yield state, None
        if state["Type"] == "Map":
            for task, _ in _asl_tasks(state["ItemProcessor"]["States"]):
                yield task, state


def _state_machine_invocations(function: str) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    substitutions = _props("SweepStateMachine")["DefinitionSubstitutions"]
    names = [k for k, v in substitutions.items() if v == {"Fn::GetAtt": [function, "Arn"]}]
    return [
        (task, around)
        for task, around in _asl_tasks(ASL["States"])
        if any(task.get("Parameters", {}).get("FunctionName") == f"${{{name}}}" for name in names)
    ]


def _skips(function: str) -> dict[str, str]:
    skips = FUNCTIONS[function].get("Metadata", {}).get("checkov", {}).get("skip", [])
    return {skip["id"]: skip["comment"] for skip in skips}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_checkov_skip_reasons_are_true_for_the_function(name: str) -> None:
    skips = _skips(name)
    events = FUNCTIONS[name]["Properties"].get("Events", {})
    http = [e for e in events.values() if e["Type"] == "HttpApi"]
    invocations = _state_machine_invocations(name)
    if "CKV_AWS_116" in skips:  # no dead-letter queue: only synchronous callers
        assert all(e["Type"] == "HttpApi" for e in events.values()), f"{name} has an asynchronous event source"
        assert http or invocations, f"{name}: who calls it?"
        for task, _ in invocations:
            assert task["Resource"].endswith(":states:::lambda:invoke"), name
            assert task["Parameters"].get("InvocationType", "RequestResponse") == "RequestResponse", name
            assert task.get("Retry"), f"{name}: the skip says Step Functions retries it"
        assert ("HTTP API" in skips["CKV_AWS_116"]) == bool(http), skips["CKV_AWS_116"]
    if "CKV_AWS_117" in skips:  # no VPC: it reaches public AWS APIs only, and says which
        statements = _statements(FUNCTIONS[name]["Properties"].get("Policies", []), name)
        actions = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        services = {str(a).split(":")[0] for a in actions} - {"kms"}  # the key is used through those services
        named = {key for key, api in _API_NAMES.items() if api in skips["CKV_AWS_117"]}
        assert named == services, f"{name}: the skip names {named}, the policy calls {services}"
    if "CKV_AWS_115" in skips:  # no reserved concurrency: something else bounds it
        reason = skips["CKV_AWS_115"]
        if http:
            settings = _props("HttpApi")["DefaultRouteSettings"]
            assert "HTTP API stage throttling" in reason
            assert settings["ThrottlingRateLimit"] > 0
            assert settings["ThrottlingBurstLimit"] > 0
        else:
            assert invocations, f"{name}: the skip says the state machine starts it"
            for _, around in invocations:
                if around is not None:
                    assert f"MaxConcurrency ({around['MaxConcurrency']}" in reason, reason
    if "CKV_AWS_173" in skips:  # environment not encrypted with a customer key: it holds no secret
        env = {**GLOBAL_FUNCTION["Environment"]["Variables"]}
        env.update(FUNCTIONS[name]["Properties"].get("Environment", {}).get("Variables", {}))
        secret_like = [k for k in env if any(w in k.upper() for w in ("SECRET", "PASSWORD", "TOKEN", "PRIVATE"))]
        assert secret_like == [], f"{name}: {secret_like}"
