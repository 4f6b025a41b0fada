"""DynamoDB Local for the integration tier: one in-memory instance per test session, tables from template.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.dynamodb import DynamoDBLocal, StartError, dynamodb_client
from local.tables import ensure_tables, local_table_names, table_specs
from local.template import LocalContext, Resolver, load_template
from tests.conftest import ROOT, free_port


@dataclass(frozen=True)
class DynamoDBTables:
    """A running DynamoDB Local and the template's tables in it."""

    endpoint: str
    names: dict[str, str]  # logical id -> table name
    client: Any

    @property
    def table_name(self) -> str:
        """The regimen table (`RegimenTable`)."""
        return self.names["RegimenTable"]

    @property
    def idempotency_table_name(self) -> str:
        """The idempotency table (`IdempotencyTable`)."""
        return self.names["IdempotencyTable"]


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBTables]:
    """DynamoDB Local in memory on a free port, `AWS_ENDPOINT_URL_DYNAMODB` and table names set, stopped at the end."""
    template_path = ROOT / "template.yaml"
    if not template_path.exists():
        pytest.fail("template.yaml is missing: the tables are created from it")
    server = DynamoDBLocal(ROOT, free_port(), data_dir=None)
    try:
        server.start()
    except StartError as error:
        pytest.fail(f"DynamoDB Local did not start: {error}")
    template = load_template(template_path)
    names = local_table_names(template)
    resolver = Resolver(template, LocalContext(refs=dict(names)))
    client = dynamodb_client(server.endpoint)
    ensure_tables(client, table_specs(template, resolver, names))
    variables = {
        "AWS_ENDPOINT_URL_DYNAMODB": server.endpoint,
        "TABLE_NAME": names["RegimenTable"],
        "IDEMPOTENCY_TABLE_NAME": names["IdempotencyTable"],
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield DynamoDBTables(endpoint=server.endpoint, names=names, client=client)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
