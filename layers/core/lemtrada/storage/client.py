"""The one way the storage layer talks to DynamoDB: boto3's low-level client with one botocore Config.

The bootstrap builds one client per execution environment and hands it to the repository and the outbox; each
builds its own on first use when given none, so a test's AWS mock is in place before a client exists.
"""

from __future__ import annotations

from typing import Any

RETRIES: Any = {"mode": "standard", "max_attempts": 8}
"""Throttling, 5xx and transient network errors are retried by botocore with jittered backoff."""


def dynamodb_client(region: str, endpoint: str | None = None) -> Any:
    """A DynamoDB client for a region and endpoint (``None``: AWS, or ``AWS_ENDPOINT_URL_DYNAMODB`` if set)."""
    import boto3  # noqa: PLC0415 - lazy: a cold start that never reads the table does not import it
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint, config=Config(retries=RETRIES))


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
