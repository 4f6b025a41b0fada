"""Deploy evidence without an AWS account: SAM's translation of template.yaml onto moto's CloudFormation.

moto runs in server mode on loopback, the function folders are zipped into moto's S3 under the placeholder
locations the translation names, and the stack is created from the translated template as AWS would create it.
moto 5.2.5 has no CloudFormation support for some types (MOTO_CANNOT_CREATE): it marks them complete without
creating anything, so they are asserted on the translation only; everything else is asserted on the created
services (tables and their indexes, topics, the queue, functions and their environments, roles, the state machine).
More moto gaps: a function's Architectures and Layers are dropped (asserted on the translation, the layer version
itself is published), and a state machine's DefinitionSubstitutions are not applied (the test applies them from
the created functions). moto's CloudFormation knows no CloudFront type; its CloudFront API does, so the console's
distribution and origin access control are created through it from the template's configuration and their
attributes written into the template the stack is created from.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.template import LocalContext, Resolver
from local.translation import ARTIFACT_BUCKET, translate_file
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.integration

REGION = "us-east-1"
STAGE = "ci"
STACK = f"lemtrada-{STAGE}"

# Resource types moto's CloudFormation skips ("No Moto CloudFormation support for ...").
MOTO_CANNOT_CREATE = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::SNS::TopicPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Scheduler::Schedule",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Cognito::UserPoolDomain",
    "AWS::S3::BucketPolicy",
}
# moto's CloudFormation does not know CloudFront at all, but moto's CloudFront API creates distributions and origin
# access controls (no response headers policies): the fixture creates the console's distribution and its OAC
# through that API from the template's own configuration, and deploys the rest with their attributes filled in.
CLOUDFRONT_TYPES = {
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::ResponseHeadersPolicy",
    "AWS::CloudFront::Function",
}
MOTO_ACCOUNT = "123456789012"

_NOT_SUPPORTED = re.compile(r"Tried to parse (\S+) but it's not supported")


@dataclass(frozen=True)
class Deployed:
    """The translated template, a session on moto, and the stack's resources by logical id."""

    template: dict[str, Any]
    session: boto3.Session
    endpoint: str
    status: str
    reason: str | None
    resources: dict[str, dict[str, Any]]
    skipped: set[str]  # resource types moto said it cannot create
    console: dict[str, str]  # the distribution and OAC the fixture created through moto's CloudFront API

    def client(self, service: str) -> Any:
        """A client of one service on moto."""
        return self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def of_type(self, kind: str) -> list[str]:
        """Logical ids of the translated template's resources of one type."""
        return [name for name, body in self.template["Resources"].items() if body["Type"] == kind]

    def physical(self, logical_id: str) -> str:
        """The physical id CloudFormation gave a resource."""
        return str(self.resources[logical_id]["PhysicalResourceId"])


def _zip(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((ROOT / folder).rglob("*.py")):
            archive.write(path, path.relative_to(ROOT / folder))
    return buffer.getvalue()


def _api_list(items: list[Any]) -> dict[str, Any]:
    return {"Quantity": len(items), "Items": items}


def _console_distribution(session: boto3.Session, endpoint: str, template: dict[str, Any]) -> dict[str, str]:
    """The console's OAC and distribution created through moto's CloudFront API from the translated template's
    properties (CloudFormation's shapes turned into the API's `Quantity`/`Items` lists)."""
    context = LocalContext(region=REGION, account_id=MOTO_ACCOUNT, parameters={"Stage": STAGE})
    resolver = Resolver(template, context)
    resources = template["Resources"]
    bucket = str(resolver.resolve(resources["ConsoleBucket"]["Properties"]["BucketName"]))
    context.attributes[("ConsoleBucket", "RegionalDomainName")] = f"{bucket}.s3.{REGION}.amazonaws.com"
    cloudfront = session.client("cloudfront", endpoint_url=endpoint)
    control_config = resolver.resolve(
        resources["ConsoleOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    )
    control = cloudfront.create_origin_access_control(OriginAccessControlConfig=control_config)["OriginAccessControl"]
    context.attributes[("ConsoleOriginAccessControl", "Id")] = control["Id"]
    context.refs["ConsoleHeadersPolicy"] = "moto-has-no-response-headers-policies"
    function_arn = f"arn:aws:cloudfront::{MOTO_ACCOUNT}:function/moto-has-no-cloudfront-functions"
    context.attributes[("ConsoleIndexFunction", "FunctionMetadata.FunctionARN")] = function_arn
    config = resolver.resolve(resources["ConsoleDistribution"]["Properties"]["DistributionConfig"])
    behaviour = config["DefaultCacheBehavior"]
    created = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": STACK,
            "Comment": config["Comment"],
            "Enabled": config["Enabled"],
            "DefaultRootObject": config["DefaultRootObject"],
            "PriceClass": config["PriceClass"],
            "IsIPV6Enabled": config["IPV6Enabled"],
            "Origins": _api_list(config["Origins"]),
            "DefaultCacheBehavior": {
                **{
                    key: item for key, item in behaviour.items() if key not in ("CachedMethods", "FunctionAssociations")
                },
                "AllowedMethods": {
                    **_api_list(behaviour["AllowedMethods"]),
                    "CachedMethods": _api_list(behaviour["CachedMethods"]),
                },
            },
        }
    )["Distribution"]
    return {
        "bucket": bucket,
        "distribution_id": created["Id"],
        "domain": created["DomainName"],
        "control_id": control["Id"],
    }


def _with_console(value: Any, console: dict[str, str]) -> Any:
    """The template with the distribution's attributes written in (what CloudFormation would resolve)."""
    if isinstance(value, list):
        return [_with_console(item, console) for item in value]
    if not isinstance(value, dict):
        return value
    if value == {"Fn::GetAtt": ["ConsoleDistribution", "DomainName"]}:
        return console["domain"]
    if value == {"Ref": "ConsoleDistribution"}:
        return console["distribution_id"]
    if "Fn::Sub" in value and len(value) == 1:
        argument = value["Fn::Sub"]
        text = argument if isinstance(argument, str) else argument[0]
        text = text.replace("${ConsoleDistribution.DomainName}", console["domain"])
        text = text.replace("${ConsoleDistribution}", console["distribution_id"])
        return {"Fn::Sub": text if isinstance(argument, str) else [text, _with_console(argument[1], console)]}
    return {key: _with_console(item, console) for key, item in value.items()}


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    template = translate_file(ROOT / "template.yaml", {"Stage": STAGE}, REGION)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        for resource in template["Resources"].values():
            properties = resource.get("Properties") or {}
            location = properties.get("Code") or properties.get("Content")
            if isinstance(location, dict) and location.get("S3Bucket") == ARTIFACT_BUCKET:
                s3.put_object(Bucket=ARTIFACT_BUCKET, Key=location["S3Key"], Body=_zip(location["S3Key"]))
        console = _console_distribution(session, endpoint, template)
        body = _with_console(
            {
                **template,
                "Resources": {
                    name: resource
                    for name, resource in template["Resources"].items()
                    if resource["Type"] not in CLOUDFRONT_TYPES
                },
            },
            console,
        )
        cloudformation = session.client("cloudformation", endpoint_url=endpoint)
        # moto warns once per resource it cannot create (in its server thread, in this process).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(body),
                Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
            deadline = time.monotonic() + 120
            while True:
                stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
                if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        skipped = {
            found.group(1) for warning in caught if (found := _NOT_SUPPORTED.search(str(warning.message))) is not None
        }
        resources = {item["LogicalResourceId"]: item for item in summaries if item["LogicalResourceId"]}
        yield Deployed(
            template,
            session,
            endpoint,
            stack["StackStatus"],
            stack.get("StackStatusReason"),
            resources,
            skipped,
            console,
        )
    finally:
        server.stop()


def test_the_stack_reaches_create_complete_with_every_resource_moto_can_create(deployed: Deployed) -> None:
    assert deployed.status == "CREATE_COMPLETE", deployed.reason
    expected = {
        name
        for name, body in deployed.template["Resources"].items()
        if body["Type"] not in MOTO_CANNOT_CREATE | CLOUDFRONT_TYPES and "Condition" not in body
    }
    assert expected <= set(deployed.resources)
    assert {deployed.resources[name]["ResourceStatus"] for name in expected} == {"CREATE_COMPLETE"}
    # Exactly these types were skipped by moto; they are in the translation (the API, the pool, the alarms).
    assert deployed.skipped == MOTO_CANNOT_CREATE
    kinds = {body["Type"] for body in deployed.template["Resources"].values()}
    assert kinds >= MOTO_CANNOT_CREATE


def test_every_table_has_its_keys_and_indexes(deployed: Deployed) -> None:
    dynamodb = deployed.client("dynamodb")
    tables = {
        name: dynamodb.describe_table(TableName=deployed.physical(name))["Table"]
        for name in ("RegimenTable", "IdempotencyTable")
    }
    assert set(deployed.of_type("AWS::DynamoDB::Table")) == set(tables)
    regimen = tables["RegimenTable"]
    assert [key["AttributeName"] for key in regimen["KeySchema"]] == ["pk", "sk"]
    indexes = {index["IndexName"]: index for index in regimen["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"DueIndex", "ClinicPatientsIndex", "WorklistIndex"}
    assert [key["AttributeName"] for key in indexes["WorklistIndex"]["KeySchema"]] == [
        "worklist_clinic",
        "worklist_rank",
    ]
    assert [key["AttributeName"] for key in indexes["DueIndex"]["KeySchema"]] == ["due_shard", "next_check"]
    assert indexes["DueIndex"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["clinic_id"]}
    assert [key["AttributeName"] for key in tables["IdempotencyTable"]["KeySchema"]] == ["id"]


def test_topics_and_the_dead_letter_queue_exist(deployed: Deployed) -> None:
    sns = deployed.client("sns")
    arns = {topic["TopicArn"] for topic in sns.list_topics()["Topics"]}
    assert {deployed.physical(name) for name in deployed.of_type("AWS::SNS::Topic")} <= arns
    assert {"DigestTopic", "AlarmTopic"} <= set(deployed.of_type("AWS::SNS::Topic"))
    queue_url = deployed.physical("SweepScheduleDeadLetterQueue")
    attributes = deployed.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["MessageRetentionPeriod"] == "1209600"


def test_each_function_names_the_created_tables_and_topic(deployed: Deployed) -> None:
    lambda_client = deployed.client("lambda")
    functions = deployed.of_type("AWS::Lambda::Function")
    assert len(functions) == 12  # the lab function (DESIGN 10), the devices and reminder functions (DESIGN 9)
    layer_ids = deployed.of_type("AWS::Lambda::LayerVersion")
    assert len(layer_ids) == 1
    assert deployed.resources[layer_ids[0]]["ResourceStatus"] == "CREATE_COMPLETE"
    published = [layer for layer in lambda_client.list_layers()["Layers"] if layer_ids[0] in layer["LayerName"]]
    assert [layer["LatestMatchingVersion"]["CompatibleRuntimes"] for layer in published] == [["python3.13"]]
    for logical_id in functions:
        configuration = lambda_client.get_function(FunctionName=deployed.physical(logical_id))["Configuration"]
        variables = configuration["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == deployed.physical("RegimenTable"), logical_id
        assert variables["IDEMPOTENCY_TABLE_NAME"] == deployed.physical("IdempotencyTable"), logical_id
        assert variables["TOPIC_ARN"] == deployed.physical("DigestTopic"), logical_id
        assert variables["STAGE"] == STAGE
        assert configuration["Runtime"] == "python3.13"
        assert configuration["Handler"] == "app.handler"
        # moto's CloudFormation drops Architectures (it reports x86_64): the translation is asserted instead.
        properties = deployed.template["Resources"][logical_id]["Properties"]
        assert properties["Architectures"] == ["arm64"], logical_id
        # moto drops a function's Layers too (and gives a layer no physical id): the translation must name the
        # one layer version of this stack, which moto did publish.
        assert properties["Layers"] == [{"Ref": layer_ids[0]}], logical_id
        role = configuration["Role"].rsplit("/", 1)[-1]
        assert role == deployed.physical(f"{logical_id}Role")


def test_every_role_exists_with_its_policies(deployed: Deployed) -> None:
    iam = deployed.client("iam")
    roles = deployed.of_type("AWS::IAM::Role")
    assert len(roles) == 16  # twelve functions, the state machine, the sweep's, alert drain's and reminders' schedulers
    for logical_id in roles:
        name = deployed.physical(logical_id)
        role = iam.get_role(RoleName=name)["Role"]
        assert role["AssumeRolePolicyDocument"]["Statement"], logical_id
        inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        assert inline or attached, logical_id


def test_the_state_machine_calls_the_created_functions(deployed: Deployed) -> None:
    arn = deployed.physical("SweepStateMachine")
    machine = deployed.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    assert machine["name"] == f"lemtrada-{STAGE}-sweep"
    assert machine["roleArn"].rsplit("/", 1)[-1] == deployed.physical("SweepStateMachineRole")
    # moto stores the definition without applying DefinitionSubstitutions (CloudFormation applies them): apply
    # them here from the created resources, so every placeholder must name a function this stack created.
    substitutions = deployed.template["Resources"]["SweepStateMachine"]["Properties"]["DefinitionSubstitutions"]
    lambda_client = deployed.client("lambda")
    text = machine["definition"]
    for placeholder, source in substitutions.items():
        value = "aws" if source == {"Ref": "AWS::Partition"} else str(source)
        if "Fn::GetAtt" in source:
            function = deployed.physical(source["Fn::GetAtt"][0])
            value = lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
        text = text.replace("${" + placeholder + "}", value)
    assert "${" not in text
    definition = json.loads(text)
    functions = {
        state: body["Parameters"]["FunctionName"]
        for state, body in [
            *definition["States"].items(),
            *definition["States"]["SweepShards"]["ItemProcessor"]["States"].items(),
        ]
        if body["Type"] == "Task"
    }
    arns = {
        name: lambda_client.get_function(FunctionName=deployed.physical(name))["Configuration"]["FunctionArn"]
        for name in ("SweepPlanFunction", "SweepWorkerFunction", "SweepPublishFunction")
    }
    assert functions == {
        "Plan": arns["SweepPlanFunction"],
        "SweepShard": arns["SweepWorkerFunction"],
        "Publish": arns["SweepPublishFunction"],
        "PublishWhatWasQueued": arns["SweepPublishFunction"],
    }


def test_cfn_lint_passes_on_the_translated_template(deployed: Deployed, tmp_path: Any) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(deployed.template))
    cfn_lint = ROOT / ".venv" / "bin" / "cfn-lint"
    if not cfn_lint.exists():
        pytest.skip("cfn-lint is not in the app venv")
    # W1020: SAM resolves the Stage parameter into the layer name and leaves an Fn::Sub without variables.
    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", "W1020", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_console_bucket_and_its_distribution(deployed: Deployed) -> None:
    """DESIGN 11 on AWS: the bucket created by CloudFormation, the distribution and its OAC through moto's CloudFront
    API from the template's configuration; what moto cannot hold (the bucket policy, public access block,
    versioning, the headers policy) is asserted on the translation."""
    console = deployed.console
    bucket = deployed.physical("ConsoleBucket")
    assert bucket == console["bucket"] == f"lemtrada-{STAGE}-console-{MOTO_ACCOUNT}"
    s3 = deployed.client("s3")
    s3.head_bucket(Bucket=bucket)
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    cloudfront = deployed.client("cloudfront")
    distribution = cloudfront.get_distribution(Id=console["distribution_id"])["Distribution"]
    config = distribution["DistributionConfig"]
    (origin,) = config["Origins"]["Items"]
    assert origin["DomainName"] == f"{bucket}.s3.{REGION}.amazonaws.com"
    # An S3 origin without the legacy identity (moto leaves the empty S3OriginConfig out of its answer).
    assert origin.get("S3OriginConfig", {}).get("OriginAccessIdentity", "") == ""
    assert "CustomOriginConfig" not in origin
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == origin["Id"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["DefaultRootObject"] == "console/index.html"
    assert config["Enabled"] is True
    # moto keeps no OriginAccessControlId on an origin: the control itself, and the translation naming it.
    control = cloudfront.get_origin_access_control(Id=console["control_id"])["OriginAccessControl"]
    control_config = control["OriginAccessControlConfig"]
    assert control_config["Name"] == f"lemtrada-{STAGE}-console"
    assert (control_config["SigningProtocol"], control_config["SigningBehavior"]) == ("sigv4", "always")
    assert control_config["OriginAccessControlOriginType"] == "s3"
    translated = deployed.template["Resources"]
    (declared,) = translated["ConsoleDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    assert declared["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}

    # The bucket admits the distribution only (moto skips bucket policies: the translation, resolved).
    policy = translated["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    source = _with_console(policy["Condition"]["StringEquals"]["AWS:SourceArn"], console)["Fn::Sub"]
    assert source.endswith(f":distribution/{console['distribution_id']}")
    assert translated["ConsoleBucket"]["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"]

    # The digest names the console's worklist on the distribution (WorklistUrl left empty).
    lambda_client = deployed.client("lambda")
    publish = lambda_client.get_function(FunctionName=deployed.physical("SweepPublishFunction"))["Configuration"]
    assert publish["Environment"]["Variables"]["WORKLIST_URL"] == (
        f"https://{console['domain']}/console/index.html#/clinics/{{clinic_id}}/worklist"
    )
