"""GET /health: version and table state, 200 when the table answers, 503 problem+json when it does not."""

from __future__ import annotations

import importlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import lemtrada
import pytest

from tests.functional.conftest import FakeLambdaContext, load_event


@pytest.fixture
def health(aws: None) -> Iterator[ModuleType]:
    """The handler module, its cached DynamoDB client dropped so each test's client talks to its own mock."""
    module = importlib.import_module("functions.health.app")
    module._dynamodb.cache_clear()
    yield module
    module._dynamodb.cache_clear()


@pytest.fixture
def create_table(function_env: dict[str, str]) -> Callable[[], None]:
    def create() -> None:
        boto3.client("dynamodb").create_table(
            TableName=function_env["TABLE_NAME"],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )

    return create


def _call(health: ModuleType, context: FakeLambdaContext) -> tuple[int, dict[str, str], dict[str, Any]]:
    response: dict[str, Any] = health.handler(load_event("health/get_health"), context)
    headers = {key.lower(): value for key, value in response.get("headers", {}).items()}
    return response["statusCode"], headers, json.loads(response["body"])


def test_table_answers_gives_200_with_version(
    health: ModuleType, create_table: Callable[[], None], lambda_context: FakeLambdaContext
) -> None:
    create_table()
    status, headers, body = _call(health, lambda_context)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert body == {"status": "ok", "version": lemtrada.__version__, "table": "ok"}


def test_missing_table_gives_503_problem_without_trace(health: ModuleType, lambda_context: FakeLambdaContext) -> None:
    status, headers, body = _call(health, lambda_context)
    assert status == 503
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert body["table"] == "unavailable"
    assert body["version"] == lemtrada.__version__
    assert "ResourceNotFoundException" in body["detail"]
    text = json.dumps(body)
    assert "Traceback" not in text
    assert "arn:" not in text  # nothing about the account leaks through the public error


def test_unexpected_failure_gives_500_problem(
    health: ModuleType, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom() -> tuple[bool, str]:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(health, "_table_state", boom)
    status, headers, body = _call(health, lambda_context)
    assert status == 500
    assert headers["content-type"] == "application/problem+json"
    assert "internal detail" not in json.dumps(body)


def test_unknown_route_is_404(health: ModuleType, lambda_context: FakeLambdaContext) -> None:
    event = load_event("health/get_health")
    event["rawPath"] = "/dev/nothing"
    event["routeKey"] = "GET /nothing"
    event["requestContext"]["http"]["path"] = "/dev/nothing"
    response = health.handler(event, lambda_context)
    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "application/problem+json"


def test_logs_carry_the_request_id_as_correlation_id(
    health: ModuleType, create_table: Callable[[], None], lambda_context: FakeLambdaContext
) -> None:
    create_table()
    _call(health, lambda_context)
    assert health.logger.get_correlation_id() == load_event("health/get_health")["requestContext"]["requestId"]


def test_emits_table_metric(
    health: ModuleType,
    create_table: Callable[[], None],
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_table()
    _call(health, lambda_context)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = [record for record in records if "_aws" in record and "TableAvailable" in record]
    assert emf
    assert emf[-1]["TableAvailable"] in (1.0, [1.0])


def test_a_table_endpoint_that_hangs_answers_503_within_seconds(
    function_env: dict[str, str], lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeTable has a 1 s read timeout and no retries: a hung endpoint costs seconds, not the Lambda timeout."""
    health = importlib.import_module("functions.health.app")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections complete in the backlog, no byte is ever answered
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{silent.getsockname()[1]}")
        health._dynamodb.cache_clear()
        try:
            started = time.monotonic()
            status, headers, body = _call(health, lambda_context)
            elapsed = time.monotonic() - started
        finally:
            health._dynamodb.cache_clear()
    assert status == 503
    assert headers["content-type"] == "application/problem+json"
    assert "Timeout" in body["detail"]
    assert elapsed < 4
