"""The one way the storage layer talks to DynamoDB: botocore's low-level client (what ``boto3.client`` returns)
with one botocore Config.

The bootstrap builds one client per execution environment, from its one botocore session, and hands it to the
repository, the outbox and the idempotency store; each builds its own on first use when given none, so a test's
AWS mock is in place before a client exists. The client comes from botocore directly: importing boto3 adds
s3transfer and its dependencies to a cold start (about a quarter of ``import boto3``) for nothing DynamoDB's
low-level client uses.
"""

from __future__ import annotations

from typing import Any

RETRIES: Any = {"mode": "standard", "max_attempts": 8}
"""Throttling, 5xx and transient network errors are retried by botocore with jittered backoff."""


def dynamodb_client(region: str, endpoint: str | None = None, session: Any | None = None) -> Any:
    """A DynamoDB client for a region and endpoint (``None``: AWS, or ``AWS_ENDPOINT_URL_DYNAMODB`` if set), from
    ``session`` (a ``botocore.session.Session``) or a new one."""
    from botocore.config import Config  # noqa: PLC0415 - lazy: a cold start that never reads the table skips it
    from botocore.session import get_session  # noqa: PLC0415

    return (session or get_session()).create_client(
        "dynamodb", region_name=region, endpoint_url=endpoint, config=Config(retries=RETRIES)
    )


class LazyClient:
    """A client built on first use from a region and endpoint, or the one given."""

    def __init__(self, region: str, endpoint: str | None, client: Any | None = None) -> None:
        self._region = region
        self._endpoint = endpoint
        self._client = client

    def get(self) -> Any:
        if self._client is None:
            self._client = dynamodb_client(self._region, self._endpoint)
        return self._client
