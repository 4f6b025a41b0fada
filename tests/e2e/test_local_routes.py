"""The local stack's own routes: tokens and the notices published to the digest topic."""

from __future__ import annotations

import json

import boto3
import jwt
import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

DIGEST_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:DigestTopic"


def test_a_token_carries_the_role_sub_and_clinic(local_stack: RunningStack) -> None:
    token = local_stack.token("clinicians", sub="user-7", clinic_id="clinic-9")

    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "user-7"
    assert claims["cognito:groups"] == ["clinicians"]
    assert claims["custom:clinic_id"] == "clinic-9"
    assert claims["token_use"] == "id"
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize("body", [{"role": "nurses"}, {}, {"role": "admins", "sub": 5}])
def test_a_token_request_without_a_known_role_is_refused(base_url: str, body: dict[str, object]) -> None:
    response = requests.post(f"{base_url}/_local/token", json=body, timeout=10)

    assert response.status_code == 400


def test_notices_show_what_was_published_to_the_digest_topic_oldest_first(local_stack: RunningStack) -> None:
    before = requests.get(f"{local_stack.base_url}/_local/notices", timeout=10).json()
    sns = boto3.client("sns", endpoint_url=local_stack.sns_endpoint, region_name="us-east-1")
    digests = [
        {"clinic_id": "clinic-1", "date": "2026-03-01", "part": 1, "parts": 1, "items": []},
        {"clinic_id": "clinic-2", "date": "2026-03-01", "part": 1, "parts": 1, "items": [{"code": "cbc"}]},
    ]
    for digest in digests:
        sns.publish(
            TopicArn=DIGEST_TOPIC_ARN,
            Subject="Lemtrada digest",
            MessageStructure="json",
            Message=json.dumps({"default": json.dumps(digest), "email": "readable text"}),
            MessageAttributes={
                "clinic_id": {"DataType": "String", "StringValue": str(digest["clinic_id"])},
                "date": {"DataType": "String", "StringValue": "2026-03-01"},
                "kind": {"DataType": "String", "StringValue": "digest"},
            },
        )

    notices = requests.get(f"{local_stack.base_url}/_local/notices", timeout=10).json()

    assert notices[len(before) :] == [
        {
            "subject": "Lemtrada digest",
            "attributes": {"clinic_id": digest["clinic_id"], "date": "2026-03-01", "kind": "digest"},
            "digest": digest,
            "email": "readable text",
        }
        for digest in digests
    ]
