"""DynamoDB Local for the benchmarks: in memory, on a free loopback port, tables made from template.yaml.

Each experiment gets its own copy of ``RegimenTable`` (same keys and indexes as the template, another name), so
one DynamoDB Local process serves every measurement of a run side by side.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local.dynamodb import DynamoDBLocal
from local.tables import table_specs
from local.template import LocalContext, Resolver, load_template

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


_LOCAL_ONLY = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def local_only_environment() -> None:
    """Dummy credentials and no profile: every client of this process (PynamoDB's too) can only talk to the
    endpoints the benchmark names, never to an AWS account."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(_LOCAL_ONLY)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalDynamo:
    """A running DynamoDB Local and a way to make fresh regimen tables in it."""

    def __init__(self, server: DynamoDBLocal) -> None:
        self.server = server
        self.endpoint = server.endpoint
        self.client = self.new_client()

    def new_client(self) -> Any:
        """A client for this endpoint (dummy credentials, never a real account); one per thread."""
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=16),
        )

    def regimen_table(self, prefix: str = "bench") -> str:
        """A new, empty table shaped like the template's ``RegimenTable``; returns its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        template = load_template(ROOT / "template.yaml")
        names = {"RegimenTable": name, "IdempotencyTable": f"{name}-idempotency"}
        resolver = Resolver(template, LocalContext(refs=dict(names)))
        spec = next(s for s in table_specs(template, resolver, names) if s.logical_id == "RegimenTable")
        self.client.create_table(**spec.create_table)
        self.client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1})
        return name

    def drop(self, table: str) -> None:
        """Free the memory a finished experiment's table holds."""
        self.client.delete_table(TableName=table)


@contextmanager
def local_dynamodb() -> Iterator[LocalDynamo]:
    """DynamoDB Local in memory on 127.0.0.1 (free port), stopped on exit."""
    local_only_environment()
    server = DynamoDBLocal(ROOT, free_port(), data_dir=None)
    server.start()
    try:
        yield LocalDynamo(server)
    finally:
        server.stop()
