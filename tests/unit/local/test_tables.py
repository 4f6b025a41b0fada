"""CreateTable requests built from the template's table definitions."""

from __future__ import annotations

import pytest

from local.tables import local_table_names, table_specs
from local.template import LocalContext, Resolver, load_template, parse_template
from tests.conftest import ROOT

TEMPLATE = """
Resources:
  Key: {Type: AWS::KMS::Key}
  Main:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "main-${AWS::StackName}"
      BillingMode: PAY_PER_REQUEST
      DeletionProtectionEnabled: true
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      SSESpecification: {SSEEnabled: true, SSEType: KMS, KMSMasterKeyId: !Ref Key}
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: g, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: G
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
          ContributorInsightsSpecification: {Enabled: true}
      Tags: [{Key: a, Value: b}]
  Expiring:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expiration, Enabled: true}
"""


def test_create_table_keeps_keys_indexes_and_billing_and_drops_the_rest() -> None:
    template = parse_template(TEMPLATE)
    names = local_table_names(template)

    specs = {spec.logical_id: spec for spec in table_specs(template, Resolver(template, LocalContext()), names)}

    assert specs["Main"].create_table == {
        "TableName": "Main",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "G",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    assert specs["Main"].ttl_attribute is None


def test_provisioned_tables_get_a_throughput_and_ttl_is_kept_apart() -> None:
    template = parse_template(TEMPLATE)

    spec = table_specs(template, Resolver(template, LocalContext()), local_table_names(template))[1]

    assert spec.create_table["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert "TimeToLiveSpecification" not in spec.create_table
    assert spec.ttl_attribute == "expiration"


def test_a_name_prefix_separates_table_sets() -> None:
    assert local_table_names(parse_template(TEMPLATE), prefix="t1-") == {"Main": "t1-Main", "Expiring": "t1-Expiring"}


@pytest.mark.skipif(not (ROOT / "template.yaml").exists(), reason="template.yaml not written yet")
def test_the_real_template_gives_the_shared_table_names_and_indexes() -> None:
    template = load_template(ROOT / "template.yaml")
    names = local_table_names(template)

    specs = {spec.logical_id: spec for spec in table_specs(template, Resolver(template, LocalContext()), names)}

    assert set(specs) == {"RegimenTable", "IdempotencyTable"}
    regimen = specs["RegimenTable"].create_table
    indexes = {index["IndexName"] for index in regimen["GlobalSecondaryIndexes"]}
    assert indexes == {"DueIndex", "ClinicPatientsIndex", "WorklistIndex"}
    assert not {"SSESpecification", "PointInTimeRecoverySpecification", "Tags"} & set(regimen)
    assert specs["IdempotencyTable"].ttl_attribute == "expiration"
