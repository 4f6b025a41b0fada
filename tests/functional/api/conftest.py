"""Handlers of the patient API under moto: tables created from template.yaml, events from events/, a fixed clock.

``Api`` calls a real handler with a sample event, changed only where a test needs to (path, body, caller).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import EllipsisType, ModuleType
from typing import Any

import boto3
import pytest
from lemtrada import bootstrap
from lemtrada.web import idempotency

from local.tables import ensure_tables, table_specs
from local.template import LocalContext, Resolver, load_template
from tests.conftest import ROOT
from tests.functional.conftest import FakeLambdaContext, load_event
from tests.support import bodies

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CLINIC = "lyon-neuro"
OTHER_CLINIC = "nantes-sep"
ADMIN = {"sub": "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "cognito:groups": "[admins]"}
CLINICIAN = {
    "sub": "7d4e9a2c-31b0-4f6e-9d55-0c1e2f3a4b5c",
    "cognito:groups": "[clinicians]",
    "custom:clinic_id": CLINIC,
}
OTHER_CLINICIAN = {
    "sub": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    "cognito:groups": "[clinicians]",
    "custom:clinic_id": OTHER_CLINIC,
}
PATIENT = {"sub": "c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f", "cognito:groups": "[patients]"}
OTHER_PATIENT = {"sub": "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f7a", "cognito:groups": "[patients]"}

FUNCTIONS = ("enrollment", "recording", "reading")
EVENT_FUNCTION = {
    "put_clinic": "enrollment",
    "post_worklist_rebuild": "enrollment",
    "post_patients": "enrollment",
    "get_patients": "enrollment",
    "patch_patient": "enrollment",
    "post_infusion": "recording",
    "post_result": "recording",
    "post_result_analytes": "recording",
    "post_acknowledgement": "recording",
    "get_patient": "reading",
    "get_results": "reading",
    "get_readiness": "reading",
    "get_schedule": "reading",
    "get_schedule_ics": "reading",
    "get_patient_fhir": "reading",
    "get_worklist": "reading",
    "get_me": "reading",
    "get_docs": "reading",
    "list_devices": "devices",
    "put_device": "devices",
    "delete_device": "devices",
    "put_reminders": "devices",
}
SAMPLE_PATIENT = "3f6c0e9a8b2d4c71a5e4f0b9d8c7a6e5"


def load_function(name: str) -> ModuleType:
    """functions/<name>/app.py under a unique module name (every function's module is called ``app``)."""
    module_name = f"function_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: str

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


@dataclass
class Api:
    """Calls the real handlers with the sample events of events/."""

    context: FakeLambdaContext = field(default_factory=FakeLambdaContext)

    def call(
        self,
        sample: str,
        *,
        claims: dict[str, str] | None = None,
        path: str | None = None,
        body: Any = ...,
        query: dict[str, str] | EllipsisType | None = ...,
        headers: dict[str, str] | None = None,
        drop_headers: tuple[str, ...] = ("idempotency-key", "if-match"),
    ) -> Reply:
        function = EVENT_FUNCTION[sample]
        event = copy.deepcopy(load_event(f"{function}/{sample}"))
        if claims is not None:
            event["requestContext"]["authorizer"]["jwt"]["claims"] = {**claims, "token_use": "id"}
        if path is not None:
            event["rawPath"] = f"/dev{path}"
            event["requestContext"]["http"]["path"] = f"/dev{path}"
        if body is not ...:
            event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
        if not isinstance(query, EllipsisType):
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
        event["headers"] = {k: v for k, v in event["headers"].items() if k not in drop_headers}
        event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
        result = load_function(function).handler(event, self.context)
        headers_out = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        return Reply(result["statusCode"], headers_out, result.get("body") or "")

    # -- conveniences --------------------------------------------------------------------------------
    def put_clinic(self, clinic_id: str = CLINIC, label: str = "US", timezone: str = "Europe/Paris") -> Reply:
        return self.call(
            "put_clinic",
            claims=ADMIN,
            path=f"/clinics/{clinic_id}",
            body={"name": f"Clinic {clinic_id}", "timezone": timezone, "label": label},
        )

    def enroll(self, claims: dict[str, str] = CLINICIAN, **changes: Any) -> Reply:
        return self.call("post_patients", claims=claims, body=bodies.enrollment(**changes))

    def infusion(self, patient_id: str, day: str, claims: dict[str, str] = CLINICIAN, **changes: Any) -> Reply:
        body = bodies.infusion(day, **changes)
        return self.call("post_infusion", claims=claims, path=f"/patients/{patient_id}/infusions", body=body)

    def result(self, patient_id: str, item: str, day: str, **changes: Any) -> Reply:
        body = {"item": item, "date": day, **changes}
        return self.call("post_result", claims=CLINICIAN, path=f"/patients/{patient_id}/results", body=body)

    def acknowledge(self, patient_id: str, kind: str, ref: str, action: str = "reviewed", **options: Any) -> Reply:
        body = {"kind": kind, "ref": ref, "action": action}
        path = f"/patients/{patient_id}/acknowledgements"
        return self.call("post_acknowledgement", path=path, body=body, **{"claims": CLINICIAN, **options})


def create_tables() -> None:
    template = load_template(ROOT / "template.yaml")
    names = {"RegimenTable": "regimen-test", "IdempotencyTable": "idempotency-test"}
    resolver = Resolver(template, LocalContext(region="eu-west-1"))
    ensure_tables(boto3.client("dynamodb", region_name="eu-west-1"), table_specs(template, resolver, names))


@pytest.fixture
def api(aws: None) -> Iterator[Api]:
    """Fresh moto tables, the DynamoDB repository, the clock fixed at NOW."""
    create_tables()
    idempotency.reset()
    bootstrap.use(clock=lambda: NOW)
    try:
        yield Api()
    finally:
        bootstrap.use()
        idempotency.reset()


@pytest.fixture
def clinic(api: Api) -> str:
    reply = api.put_clinic()
    assert reply.status == 201, reply.raw
    return CLINIC


@pytest.fixture
def patient_id(api: Api, clinic: str) -> str:
    reply = api.enroll(patient_sub=PATIENT["sub"])
    assert reply.status == 201, reply.raw
    return str(reply.body["patient_id"])
