"""The web layer's small pieces: groups as HTTP APIs flatten them, strict request models, the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import pytest
from lemtrada.services.actor import Role
from lemtrada.web.models import EnrollmentIn, InfusionIn, ProfilePatchIn
from lemtrada.web.openapi import PUBLIC_OPERATIONS, SECURITY_SCHEME, merged_document, render, targets
from lemtrada.web.principal import actor_from_claims, parse_groups
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[clinicians admins]", {Role.CLINICIANS, Role.ADMINS}),
        ("[patients]", {Role.PATIENTS}),
        ('["clinicians","admins"]', {Role.CLINICIANS, Role.ADMINS}),
        (["admins", "other"], {Role.ADMINS}),
        ("clinicians,patients", {Role.CLINICIANS, Role.PATIENTS}),
        ("[]", set()),
        (None, set()),
        ("[superusers]", set()),
    ],
)
def test_groups_in_every_shape(raw: object, expected: set[Role]) -> None:
    assert parse_groups(raw) == expected


def test_actor_needs_a_subject_and_keeps_the_clinic() -> None:
    assert actor_from_claims({"cognito:groups": "[admins]"}) is None
    actor = actor_from_claims({"sub": "s1", "cognito:groups": "[clinicians]", "custom:clinic_id": "c1"})
    assert actor is not None
    assert actor.clinician_of("c1")
    assert not actor.clinician_of("c2")


INFUSION = {
    "date": "2026-11-20",
    "dose_mg": 12,
    "diluted_at": "2026-11-20T08:00:00+01:00",
    "started_at": "2026-11-20T08:30:00Z",
    "ended_at": "2026-11-20T12:45:00.250+01:00",
    "route": "iv_infusion",
    "co_infused": False,
    "methylprednisolone_mg": 1000,
    "antiviral_prophylaxis": True,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"started_at": "2026-11-20T08:30:00"}, "started_at"),
        ({"started_at": "2026-11-20 08:30:00+01:00"}, "started_at"),
        ({"date": "20-11-2026"}, "date"),
        ({"date": "2026-11-31"}, "date"),
        ({"dose_mg": "12"}, "dose_mg"),
        ({"dose_mg": float("nan")}, "dose_mg"),
        ({"co_infused": "false"}, "co_infused"),
        ({"batch_number": "x" * 65}, "batch_number"),
        ({"nurse": "A"}, "nurse"),
    ],
)
def test_infusion_model_is_strict(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        InfusionIn.model_validate({**INFUSION, **change})
    assert field in {str(error["loc"][0]) for error in caught.value.errors()}


def test_enrollment_requires_the_listed_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        EnrollmentIn.model_validate({"birth_date": "1990-01-01"})
    missing = {str(error["loc"][0]) for error in caught.value.errors()}
    assert missing == {"sex", "reproductive_potential", "diagnosis", "prior_dmt_count", "contraindications"}


def test_patch_needs_something_and_ended_pregnancy_needs_a_date() -> None:
    with pytest.raises(ValidationError):
        ProfilePatchIn.model_validate({})
    with pytest.raises(ValidationError):
        ProfilePatchIn.model_validate({"pregnancy": {"state": "ended"}})
    assert ProfilePatchIn.model_validate({"pregnancy": {"state": "ongoing"}}).pregnancy is not None


def test_committed_openapi_documents_are_fresh() -> None:
    expected = render(merged_document(ROOT))
    for target in targets(ROOT):
        assert target.read_text(encoding="utf-8") == expected, f"{target} is stale: python -m lemtrada.web.openapi"


def test_openapi_lists_every_route_of_the_patient_api() -> None:
    paths = merged_document(ROOT)["paths"]
    assert set(paths) == {
        "/clinics/{clinic_id}",
        "/clinics/{clinic_id}/subscriptions",
        "/clinics/{clinic_id}/worklist",
        "/clinics/{clinic_id}/worklist/rebuild",
        "/clinics/{clinic_id}/lab-results",
        "/patients",
        "/patients/{patient_id}",
        "/patients/{patient_id}/results",
        "/patients/{patient_id}/acknowledgements",
        "/patients/{patient_id}/readiness",
        "/patients/{patient_id}/infusions",
        "/patients/{patient_id}/schedule",
        "/patients/{patient_id}/schedule.ics",
        "/patients/{patient_id}/fhir",
        "/me",
        "/me/devices",
        "/me/devices/{device_id}",
        "/me/reminders",
        "/health",
        "/docs",
        "/openapi.json",
    }


def test_openapi_declares_the_bearer_scheme_and_leaves_only_the_docs_open() -> None:
    """Swagger UI's Authorize button comes from the scheme; the global requirement covers every other operation."""
    document = merged_document(ROOT)
    assert document["components"]["securitySchemes"] == {
        SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    assert document["security"] == [{SECURITY_SCHEME: []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) in PUBLIC_OPERATIONS:
                assert operation["security"] == [], path
                assert "401" not in operation["responses"], path
            else:
                assert "security" not in operation, f"{method} {path} overrides the global requirement"
                assert "401" in operation["responses"], path
    assert {("get", "/docs"), ("get", "/openapi.json")} == PUBLIC_OPERATIONS


def test_openapi_server_is_relative_so_try_it_out_keeps_the_stage_prefix() -> None:
    assert [server["url"] for server in merged_document(ROOT)["servers"]] == ["."]
