"""DynamoDB tables of the local stack, created from template.yaml's own `AWS::DynamoDB::Table` definitions.

Keys, attribute definitions, indexes and billing come from the template; what DynamoDB Local does not take
(encryption, point-in-time recovery, deletion protection, tags, ...) is left out, and the TTL specification is
applied with UpdateTimeToLive as CloudFormation does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.template import Resolver, resources_of_type

# CreateTable parameters DynamoDB Local accepts; everything else in the template is deployment-only.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)
# Index-level properties DynamoDB Local does not take either.
_INDEX_DROP = ("ContributorInsightsSpecification", "WarmThroughput", "OnDemandThroughput")


@dataclass(frozen=True)
class TableSpec:
    """One table as the local stack creates it."""

    logical_id: str
    create_table: dict[str, Any]
    ttl_attribute: str | None


def local_table_names(template: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Logical id -> local table name: the logical id itself, so data survives template renames of TableName."""
    return {logical_id: f"{prefix}{logical_id}" for logical_id in resources_of_type(template, "AWS::DynamoDB::Table")}


def table_specs(template: Mapping[str, Any], resolver: Resolver, names: Mapping[str, str]) -> list[TableSpec]:
    """The CreateTable request and TTL attribute of every `AWS::DynamoDB::Table` of the template."""
    specs = []
    for logical_id, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        properties = resolver.resolve(resource.get("Properties") or {})
        request: dict[str, Any] = {"TableName": names[logical_id]}
        for key in _CREATE_TABLE_KEYS:
            if key in properties:
                request[key] = properties[key]
        for index_key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if index_key in request:
                request[index_key] = [
                    {key: value for key, value in index.items() if key not in _INDEX_DROP}
                    for index in request[index_key]
                ]
        if "StreamSpecification" in request:
            request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
        if request.get("BillingMode", "PROVISIONED") == "PROVISIONED" and "ProvisionedThroughput" not in request:
            request["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        ttl = properties.get("TimeToLiveSpecification") or {}
        ttl_attribute = ttl.get("AttributeName") if _truthy(ttl.get("Enabled", False)) else None
        specs.append(TableSpec(logical_id=logical_id, create_table=request, ttl_attribute=ttl_attribute))
    return specs


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def ensure_tables(client: Any, specs: list[TableSpec]) -> list[str]:
    """Create the tables that do not exist yet (existing ones keep their data); returns the names created."""
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created = []
    for spec in specs:
        name = spec.create_table["TableName"]
        if name not in existing:
            client.create_table(**spec.create_table)
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1})
            created.append(name)
        if spec.ttl_attribute:
            current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
                )
    return created
