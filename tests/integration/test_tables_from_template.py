"""The template's tables really created on DynamoDB Local: keys, indexes, billing and TTL as written."""

from __future__ import annotations

from typing import Any

import pytest

from local.tables import ensure_tables, local_table_names, table_specs
from local.template import LocalContext, Resolver, load_template
from tests.conftest import ROOT
from tests.integration.conftest import DynamoDBTables

pytestmark = pytest.mark.integration


def _template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _key_schema(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(key["AttributeName"], key["KeyType"]) for key in schema]


def test_regimen_table_has_the_template_keys_and_indexes(dynamodb_local: DynamoDBTables) -> None:
    table = dynamodb_local.client.describe_table(TableName=dynamodb_local.table_name)["Table"]
    resource = _template()["Resources"]["RegimenTable"]["Properties"]

    assert _key_schema(table["KeySchema"]) == [("pk", "HASH"), ("sk", "RANGE")]
    assert table["BillingModeSummary"]["BillingMode"] == resource["BillingMode"]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {index["IndexName"] for index in resource["GlobalSecondaryIndexes"]}
    assert _key_schema(indexes["DueIndex"]["KeySchema"]) == [("due_shard", "HASH"), ("next_check", "RANGE")]
    assert indexes["DueIndex"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["clinic_id"]}
    assert _key_schema(indexes["ClinicPatientsIndex"]["KeySchema"]) == [("clinic_key", "HASH"), ("patient_id", "RANGE")]
    assert indexes["ClinicPatientsIndex"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["xr"]}


def test_idempotency_table_expires_items_by_the_template_attribute(dynamodb_local: DynamoDBTables) -> None:
    client = dynamodb_local.client
    table = client.describe_table(TableName=dynamodb_local.idempotency_table_name)["Table"]
    ttl = client.describe_time_to_live(TableName=dynamodb_local.idempotency_table_name)["TimeToLiveDescription"]

    assert _key_schema(table["KeySchema"]) == [("id", "HASH")]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == "expiration"


def test_the_sparse_due_index_answers_a_shard_query(dynamodb_local: DynamoDBTables) -> None:
    client = dynamodb_local.client
    item = {
        "pk": {"S": "PATIENT#it-due"},
        "sk": {"S": "PROFILE"},
        "due_shard": {"S": "DUE#07"},
        "next_check": {"S": "2001-02-03"},
        "clinic_id": {"S": "clinic-1"},
    }
    client.put_item(TableName=dynamodb_local.table_name, Item=item)

    found = client.query(
        TableName=dynamodb_local.table_name,
        IndexName="DueIndex",
        KeyConditionExpression="due_shard = :shard AND next_check <= :today",
        ExpressionAttributeValues={":shard": {"S": "DUE#07"}, ":today": {"S": "2001-02-04"}},
    )["Items"]

    # Other tests of the session share the table; this date is this test's own.
    mine = [row for row in found if row["pk"]["S"] == "PATIENT#it-due"]
    assert len(mine) == 1
    assert set(mine[0]) == {"pk", "sk", "due_shard", "next_check", "clinic_id"}


def test_creating_again_keeps_existing_tables_and_their_data(dynamodb_local: DynamoDBTables) -> None:
    client = dynamodb_local.client
    client.put_item(TableName=dynamodb_local.table_name, Item={"pk": {"S": "CLINIC#kept"}, "sk": {"S": "CLINIC"}})
    template = _template()
    names = local_table_names(template)

    created = ensure_tables(client, table_specs(template, Resolver(template, LocalContext(refs=names)), names))

    assert created == []
    kept = client.get_item(TableName=dynamodb_local.table_name, Key={"pk": {"S": "CLINIC#kept"}, "sk": {"S": "CLINIC"}})
    assert "Item" in kept


def test_the_endpoint_override_is_set_for_code_under_test(dynamodb_local: DynamoDBTables) -> None:
    import os

    import boto3

    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == dynamodb_local.endpoint
    tables = boto3.client("dynamodb").list_tables()["TableNames"]
    assert set(dynamodb_local.names.values()) <= set(tables)
