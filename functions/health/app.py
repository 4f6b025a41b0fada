"""GET /health: the service version and whether the regimen table answers.

Any signed-in user may ask (the default JWT authorizer guards it), so the answer holds nothing about patients or
the account: the version, and "ok" or "unavailable" for the table with the AWS error code at most. It never answers
a stack trace: a table that does not answer gives a 503 problem+json, anything unexpected a 500 problem+json.
The table check is a DescribeTable with short timeouts and no retries, so a broken table answers within about
two seconds instead of hanging until the Lambda timeout.
"""

from __future__ import annotations

import json
import os
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import lemtrada
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import get_session

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb.client import DynamoDBClient

PROBLEM_JSON = "application/problem+json"
# Table states in which reads and writes are served.
_SERVING_STATES = frozenset({"ACTIVE", "UPDATING"})

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()


@cache
def _dynamodb() -> DynamoDBClient:
    """One client per execution environment, built on first use (tests start their AWS mock before it)."""
    config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
    # botocore's client (what boto3.client returns), without importing boto3 and s3transfer at a cold start.
    client: DynamoDBClient = get_session().create_client("dynamodb", config=config)  # type: ignore[assignment]
    return client


def _table_state() -> tuple[bool, str]:
    """Whether the regimen table serves requests, and a short reason (a table status or an AWS error code)."""
    try:
        table = _dynamodb().describe_table(TableName=os.environ["TABLE_NAME"])["Table"]
    except ClientError as error:
        return False, str(error.response.get("Error", {}).get("Code", "ClientError"))
    except BotoCoreError as error:
        return False, type(error).__name__
    status = str(table.get("TableStatus", "UNKNOWN"))
    return status in _SERVING_STATES, status


def _problem(status: int, detail: str, **extra: Any) -> Response[str]:
    """An RFC 9457 problem document; `extra` adds members (the version, the table state)."""
    title = HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store"},
    )


_HEALTH = {
    "type": "object",
    "properties": {"status": {"type": "string"}, "version": {"type": "string"}, "table": {"type": "string"}},
    "required": ["status", "version", "table"],
}
_PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
RESPONSES: dict[int, Any] = {
    200: {"description": "The table answers", "content": {"application/json": {"schema": _HEALTH}}},
    503: {"description": "The table does not answer", "content": {PROBLEM_JSON: {"schema": _PROBLEM}}},
    500: {"description": "The check failed unexpectedly", "content": {PROBLEM_JSON: {"schema": _PROBLEM}}},
}
"""Documented in the merged OpenAPI document (``lemtrada.web.openapi``), so /docs lists and runs /health."""


@app.get("/health", tags=["health"], responses=RESPONSES)
def get_health() -> Response[str]:
    """200 with the version when the table answers; 503 problem+json when it does not."""
    serving, reason = _table_state()
    metrics.add_metric(name="TableAvailable", unit=MetricUnit.Count, value=1 if serving else 0)
    if not serving:
        logger.warning("regimen table does not answer", extra={"reason": reason})
        return _problem(
            503,
            f"The regimen table does not answer ({reason}).",
            version=lemtrada.__version__,
            table="unavailable",
        )
    return Response(
        status_code=200,
        content_type="application/json",
        body=json.dumps({"status": "ok", "version": lemtrada.__version__, "table": "ok"}),
        headers={"Cache-Control": "no-store"},
    )


def _unexpected(error: Exception) -> Response[str]:
    """Routing errors (404, 405) keep their status; anything else is logged with its trace, answered without."""
    metrics.add_metric(name="HealthErrors", unit=MetricUnit.Count, value=1)
    if isinstance(error, ServiceError):
        return _problem(error.status_code, str(error.msg))
    logger.exception("health check failed")
    return _problem(500, "The health check failed unexpectedly.")


# Registered by call: the decorator form is untyped in Powertools and would erase this function's type.
app.exception_handler(Exception)(_unexpected)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: route the HTTP API v2 event."""
    return app.resolve(event, context)
