"""Tables for storage tests, created from template.yaml's definitions (the same source as the real stack)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from local.tables import table_specs
from local.template import LocalContext, Resolver, load_template
from tests.conftest import ROOT


def regimen_table_request(table_name: str) -> dict[str, Any]:
    """CreateTable arguments of ``RegimenTable`` in template.yaml, under another name."""
    template = load_template(ROOT / "template.yaml")
    names = {"RegimenTable": table_name, "IdempotencyTable": f"{table_name}-idempotency"}
    resolver = Resolver(template, LocalContext(refs=dict(names)))
    for spec in table_specs(template, resolver, names):
        if spec.logical_id == "RegimenTable":
            return dict(spec.create_table)
    raise LookupError("template.yaml has no RegimenTable")


def create_regimen_table(client: Any, table_name: str) -> None:
    client.create_table(**regimen_table_request(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})


@contextmanager
def moto_regimen_table() -> Iterator[str]:
    """A fresh RegimenTable inside moto's mock; a unique name gives each test its own table."""
    name = f"regimen-{uuid.uuid4().hex[:8]}"
    with mock_aws():
        create_regimen_table(boto3.client("dynamodb", region_name="us-east-1"), name)
        yield name
