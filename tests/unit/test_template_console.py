"""The clinician console's part of template.yaml (DESIGN 11): a private bucket read by one CloudFront distribution
through origin access control, the Cognito hosted UI with a PKCE app client, and the API open to its origin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.console import SECURITY_HEADERS
from tests.support.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _props(name: str, kind: str) -> dict[str, Any]:
    resource = RESOURCES[name]
    assert resource["Type"] == kind
    properties: dict[str, Any] = resource["Properties"]
    return properties


def test_the_bucket_is_private_encrypted_and_versioned() -> None:
    bucket = _props("ConsoleBucket", "AWS::S3::Bucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "WebsiteConfiguration" not in bucket  # no S3 website endpoint: CloudFront is the only door


def test_only_the_distribution_reads_the_bucket_and_only_over_tls() -> None:
    policy = _props("ConsoleBucketPolicy", "AWS::S3::BucketPolicy")
    assert policy["Bucket"] == {"Ref": "ConsoleBucket"}
    allow, deny = policy["PolicyDocument"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == {"Fn::Sub": "${ConsoleBucket.Arn}/console/*"}
    source = allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${ConsoleDistribution}")
    assert (deny["Effect"], deny["Principal"], deny["Condition"]) == (
        "Deny",
        "*",
        {"Bool": {"aws:SecureTransport": "false"}},
    )


def test_the_distribution_signs_with_origin_access_control_and_serves_https_only() -> None:
    control = _props("ConsoleOriginAccessControl", "AWS::CloudFront::OriginAccessControl")["OriginAccessControlConfig"]
    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"], control["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    config = _props("ConsoleDistribution", "AWS::CloudFront::Distribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy identity
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "ConsoleHeadersPolicy"}
    assert config["DefaultRootObject"] == "console/index.html"


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the CloudFront function's JavaScript")
def test_console_and_console_slash_are_answered_with_the_index() -> None:
    """DESIGN 11 serves the console at /console/: S3 has no directory index, so the viewer-request function
    rewrites the directory addresses (run here with node, the same JavaScript CloudFront runs)."""
    config = _props("ConsoleDistribution", "AWS::CloudFront::Distribution")["DistributionConfig"]
    association = config["DefaultCacheBehavior"]["FunctionAssociations"]
    assert association == [
        {
            "EventType": "viewer-request",
            "FunctionARN": {"Fn::GetAtt": ["ConsoleIndexFunction", "FunctionMetadata.FunctionARN"]},
        }
    ]
    function = _props("ConsoleIndexFunction", "AWS::CloudFront::Function")
    assert function["AutoPublish"] is True
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    uris = ["/console", "/console/", "/console/app.js", "/console/index.html", "/", "/console/lib/"]
    script = function["FunctionCode"] + (
        f"\nconsole.log(JSON.stringify({json.dumps(uris)}.map(u => handler({{request: {{uri: u}}}}).uri)));"
    )
    ran = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(ran.stdout) == [
        "/console/index.html",
        "/console/index.html",
        "/console/app.js",
        "/console/index.html",
        "/",  # DefaultRootObject answers the root
        "/console/lib/index.html",
    ]


def test_the_headers_policy_matches_what_the_local_stack_sends() -> None:
    headers = _props("ConsoleHeadersPolicy", "AWS::CloudFront::ResponseHeadersPolicy")["ResponseHeadersPolicyConfig"]
    security = headers["SecurityHeadersConfig"]
    csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    local = dict(SECURITY_HEADERS)["content-security-policy"]
    for directive in local.split("; "):
        assert directive in csp, directive  # AWS adds only connect-src (the API and the hosted UI)
    assert "unsafe-inline" not in csp
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == dict(SECURITY_HEADERS)["referrer-policy"]


def test_the_console_signs_in_with_the_hosted_ui_by_authorization_code() -> None:
    domain = _props("UserPoolDomain", "AWS::Cognito::UserPoolDomain")
    assert domain["UserPoolId"] == {"Ref": "UserPool"}
    client = _props("ConsoleUserPoolClient", "AWS::Cognito::UserPoolClient")
    assert client["GenerateSecret"] is False  # a page keeps no secret: PKCE instead
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert "openid" in client["AllowedOAuthScopes"]
    assert "custom:clinic_id" in client["ReadAttributes"]
    assert "custom:clinic_id" not in client["WriteAttributes"]
    for urls, parameter in (("CallbackURLs", "ConsoleCallbackUrl"), ("LogoutURLs", "ConsoleLogoutUrl")):
        (chosen,) = client[urls]
        condition, given, default = chosen["Fn::If"]
        assert given == {"Ref": parameter}
        assert default == {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/console/index.html"}
        assert TEMPLATE["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
        assert TEMPLATE["Parameters"][parameter]["Default"] == ""


def test_the_api_takes_the_consoles_tokens_and_its_origin() -> None:
    api = _props("HttpApi", "AWS::Serverless::HttpApi")
    audience = api["Auth"]["Authorizers"]["CognitoJwt"]["JwtConfiguration"]["audience"]
    assert {"Ref": "ConsoleUserPoolClient"} in audience
    cors = api["CorsConfiguration"]
    assert cors["AllowOrigins"] == [{"Fn::Sub": "https://${ConsoleDistribution.DomainName}"}]
    assert {"authorization", "content-type", "idempotency-key"} <= set(cors["AllowHeaders"])
    assert cors["AllowCredentials"] is False


def test_outputs_name_what_the_deploy_writes_into_config_json() -> None:
    outputs = TEMPLATE["Outputs"]
    assert {"ConsoleUrl", "ConsoleBucketName", "ConsoleClientId", "ConsoleAuthDomain", "ApiUrl"} <= set(outputs)
