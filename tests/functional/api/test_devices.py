"""/me/devices and /me/reminders through the real handler under moto, with SNS platform applications (DESIGN 9)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from lemtrada import bootstrap

from tests.functional.api.conftest import ADMIN, CLINICIAN, NOW, PATIENT, Api

TOKEN = "a3f1c2e4b5d6978812ab34cd56ef7890a3f1c2e4b5d6978812ab34cd56ef7890"


@pytest.fixture
def platforms(api: Api, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    sns = boto3.client("sns", region_name="eu-west-1")
    arns = {
        "apns": sns.create_platform_application(Name="lemtrada-ios", Platform="APNS", Attributes={})[
            "PlatformApplicationArn"
        ],
        "fcm": sns.create_platform_application(Name="lemtrada-android", Platform="GCM", Attributes={})[
            "PlatformApplicationArn"
        ],
    }
    monkeypatch.setenv("APNS_PLATFORM_APPLICATION_ARN", arns["apns"])
    monkeypatch.setenv("FCM_PLATFORM_APPLICATION_ARN", arns["fcm"])
    bootstrap.use(clock=lambda: NOW)  # the settings are read again, with the applications
    return arns


def put(api: Api, device_id: str, body: Any, claims: dict[str, str] = PATIENT) -> Any:
    return api.call("put_device", claims=claims, path=f"/me/devices/{device_id}", body=body)


def endpoints(application: str) -> list[dict[str, Any]]:
    sns = boto3.client("sns", region_name="eu-west-1")
    found: Any = sns.list_endpoints_by_platform_application(PlatformApplicationArn=application)["Endpoints"]
    return list(found)


def test_register_list_again_and_delete(api: Api, patient_id: str, platforms: dict[str, str]) -> None:
    created = put(api, "iphone-1", {"platform": "apns", "token": TOKEN})
    assert created.status == 201, created.raw
    assert created.body == {
        "device_id": "iphone-1",
        "platform": "apns",
        "registered_at": "2026-11-24T09:30:00Z",
        "enabled": True,
    }
    assert TOKEN not in created.raw
    (endpoint,) = endpoints(platforms["apns"])
    assert endpoint["Attributes"]["Token"] == TOKEN
    again = put(api, "iphone-1", {"platform": "apns", "token": TOKEN})
    assert again.status == 200
    assert len(endpoints(platforms["apns"])) == 1
    listed = api.call("list_devices", claims=PATIENT)
    assert listed.status == 200
    assert listed.body["reminders"] == {"enabled": True}
    assert [d["device_id"] for d in listed.body["devices"]] == ["iphone-1"]
    assert TOKEN not in listed.raw
    off = api.call("put_reminders", claims=PATIENT, body={"enabled": False})
    assert (off.status, off.body) == (200, {"enabled": False})
    deleted = api.call("delete_device", claims=PATIENT, path="/me/devices/iphone-1")
    assert deleted.status == 204
    assert endpoints(platforms["apns"]) == []
    assert api.call("delete_device", claims=PATIENT, path="/me/devices/iphone-1").status == 204


def test_at_most_five_devices(api: Api, patient_id: str, platforms: dict[str, str]) -> None:
    for n in range(5):
        assert put(api, f"phone-{n}", {"platform": "fcm", "token": f"tok-{n}"}).status == 201
    sixth = put(api, "phone-5", {"platform": "fcm", "token": "tok-5"})
    assert sixth.status == 422
    assert sixth.headers["content-type"] == "application/problem+json"
    assert sixth.body["code"] == "too_many_devices"
    assert len(endpoints(platforms["fcm"])) == 5


def test_platform_not_configured(api: Api, patient_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APNS_PLATFORM_APPLICATION_ARN", raising=False)
    bootstrap.use(clock=lambda: NOW)
    reply = put(api, "iphone-1", {"platform": "apns", "token": TOKEN})
    assert reply.status == 422
    assert reply.body["code"] == "platform_not_configured"
    assert reply.body["errors"][0]["field"] == "platform"


@pytest.mark.parametrize(
    ("device_id", "body", "field"),
    [
        ("phone-1", {"platform": "windows", "token": TOKEN}, "platform"),
        ("phone-1", {"platform": "apns", "token": ""}, "token"),
        ("phone-1", {"platform": "apns", "token": "x" * 4097}, "token"),
        ("phone-1", {"platform": "apns", "token": "has space"}, "token"),
        ("phone-1", {"platform": "apns"}, "token"),
        ("a" * 65, {"platform": "apns", "token": TOKEN}, "device_id"),
        ("bad.id", {"platform": "apns", "token": TOKEN}, "device_id"),
    ],
)
@pytest.mark.usefixtures("patient_id")
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    api: Api, platforms: dict[str, str], device_id: str, body: dict[str, Any], field: str
) -> None:
    reply = put(api, device_id, body)
    assert reply.status == 422, reply.raw
    assert reply.body["code"] == "validation_error"
    assert field in json.dumps(reply.body["errors"])
    assert TOKEN not in reply.raw
    assert api.call("list_devices", claims=PATIENT).body["devices"] == []
    assert endpoints(platforms["apns"]) == []


@pytest.mark.parametrize("claims", [CLINICIAN, ADMIN, {"sub": "no-such-patient", "cognito:groups": "[patients]"}])
def test_clinicians_admins_and_unlinked_patients_get_404(
    api: Api, patient_id: str, platforms: dict[str, str], claims: dict[str, str]
) -> None:
    assert api.call("list_devices", claims=claims).status == 404
    assert put(api, "phone-1", {"platform": "apns", "token": TOKEN}, claims=claims).status == 404
    assert api.call("put_reminders", claims=claims, body={"enabled": False}).status == 404
    assert api.call("delete_device", claims=claims, path="/me/devices/phone-1").status == 404
    assert endpoints(platforms["apns"]) == []


def test_a_reinstall_keeps_one_device_on_the_endpoint(api: Api, patient_id: str, platforms: dict[str, str]) -> None:
    """The reinstalled app (new device id, the phone's token): SNS answers the endpoint, which the new device takes
    over; the old record is gone and deleting the new one deletes the endpoint."""
    assert put(api, "iphone-1", {"platform": "apns", "token": TOKEN}).status == 201
    assert put(api, "iphone-2", {"platform": "apns", "token": TOKEN}).status == 201
    assert [d["device_id"] for d in api.call("list_devices", claims=PATIENT).body["devices"]] == ["iphone-2"]
    (endpoint,) = endpoints(platforms["apns"])
    attributes = boto3.client("sns", region_name="eu-west-1").get_endpoint_attributes(
        EndpointArn=endpoint["EndpointArn"]
    )["Attributes"]
    assert attributes["CustomUserData"] == f"{patient_id}/iphone-2"
    assert api.call("delete_device", claims=PATIENT, path="/me/devices/iphone-2").status == 204
    assert endpoints(platforms["apns"]) == []


def test_the_sns_gateway_answers_who_holds_an_endpoint(platforms: dict[str, str]) -> None:
    """The endpoint's owner is its CustomUserData, rewritten when another patient registers the token; a
    deleted endpoint has none."""
    from lemtrada.notify.push import SnsPushGateway

    gateway = SnsPushGateway(platforms, client=boto3.client("sns", region_name="eu-west-1"))
    arn = gateway.create_endpoint("apns", TOKEN, "pa/phone")
    assert gateway.endpoint_owner(arn) == "pa/phone"
    assert gateway.create_endpoint("apns", TOKEN, "pb/phone") == arn  # taken over
    assert gateway.endpoint_owner(arn) == "pb/phone"
    gateway.delete_endpoint(arn)
    assert gateway.endpoint_owner(arn) is None
