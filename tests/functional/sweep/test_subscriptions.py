"""POST /clinics/{clinic_id}/subscriptions: the clinic's clinicians only, e-mail filtered to that clinic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.conftest import load_event
from tests.functional.sweep.conftest import SweepAws, load_function
from tests.unit.sweep.fakes import add_clinic


@pytest.fixture
def fn(sweep_aws: SweepAws) -> Any:
    add_clinic(sweep_aws.repo, "lyon-neuro", "Europe/Paris")
    return load_function("subscriptions")


def _event(clinic_id: str = "lyon-neuro", **claims: str) -> dict[str, Any]:
    event = load_event("subscriptions/post_subscription")
    event["pathParameters"] = {"clinic_id": clinic_id}
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/dev/clinics/{clinic_id}/subscriptions"
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(claims)
    event["headers"].pop("idempotency-key", None)
    return event


def _email_subscriptions(sweep_aws: SweepAws) -> list[dict[str, Any]]:
    subs = sweep_aws.sns.list_subscriptions_by_topic(TopicArn=sweep_aws.topic_arn)["Subscriptions"]
    out = []
    for sub in subs:
        if sub["Protocol"] == "email":
            attributes = sweep_aws.sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
            out.append({"endpoint": sub["Endpoint"], **attributes})
    return out


def test_a_clinician_subscribes_with_a_filter_on_their_clinic(
    fn: Any, sweep_aws: SweepAws, lambda_context: Any
) -> None:
    response = fn.handler(_event(), lambda_context)
    assert response["statusCode"] == 202, response["body"]
    body = json.loads(response["body"])
    assert body["clinic_id"] == "lyon-neuro"
    assert "ms-team@clinic.example" not in response["body"]
    (sub,) = _email_subscriptions(sweep_aws)
    assert sub["endpoint"] == "ms-team@clinic.example"
    assert json.loads(sub["FilterPolicy"]) == {"clinic_id": ["lyon-neuro"], "kind": ["digest", "alert"]}


@pytest.mark.parametrize(
    "claims",
    [
        {"custom:clinic_id": "kiritimati-ms"},  # a clinician of another clinic
        {"cognito:groups": "[patients]"},
        {"cognito:groups": "[admins]", "custom:clinic_id": ""},
    ],
)
def test_anyone_else_gets_404_and_nothing_is_subscribed(
    fn: Any, sweep_aws: SweepAws, lambda_context: Any, claims: dict[str, str]
) -> None:
    response = fn.handler(_event(**claims), lambda_context)
    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert _email_subscriptions(sweep_aws) == []


def test_unknown_clinic_is_404(fn: Any, sweep_aws: SweepAws, lambda_context: Any) -> None:
    response = fn.handler(_event("nowhere", **{"custom:clinic_id": "nowhere"}), lambda_context)
    assert response["statusCode"] == 404


def test_a_bad_address_is_422(fn: Any, sweep_aws: SweepAws, lambda_context: Any) -> None:
    event = _event()
    event["body"] = json.dumps({"email": "not an address"})
    response = fn.handler(event, lambda_context)
    assert response["statusCode"] == 422
    assert response["headers"]["Content-Type"] == "application/problem+json"
