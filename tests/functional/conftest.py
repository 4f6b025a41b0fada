"""Fixtures for handler tests: AWS mocked by moto, the shared environment of template.yaml, a Lambda context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).resolve().parents[2] / "events"

# The environment every function gets from the template's Globals, with test values.
FUNCTION_ENV = {
    "TABLE_NAME": "regimen-test",
    "IDEMPOTENCY_TABLE_NAME": "idempotency-test",
    "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:digest-test",
    "DUE_SHARDS": "16",
    "STAGE": "test",
    "POWERTOOLS_SERVICE_NAME": "lemtrada-regimen",
    "POWERTOOLS_METRICS_NAMESPACE": "Lemtrada",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "REMINDER_WORKERS": "1",  # moto's DynamoDB is not thread-safe: the reminder run one patient at a time
}


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context that Powertools reads."""

    function_name: str = "lemtrada-test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:lemtrada-test-function"
    aws_request_id: str = "5b2f5e0c-8a8e-4b0e-9d6f-1f2a3b4c5d6e"
    log_group_name: str = "/aws/lambda/lemtrada-test-function"
    log_stream_name: str = "2026/11/24/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 5_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The shared function environment; endpoint overrides removed so moto, not a local server, answers."""
    for name, value in FUNCTION_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SNS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return dict(FUNCTION_ENV)


@pytest.fixture
def aws(function_env: dict[str, str]) -> Iterator[None]:
    """Every AWS call in the test goes to moto."""
    from moto import mock_aws

    with mock_aws():
        yield


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/<function>/<name>.json."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event
