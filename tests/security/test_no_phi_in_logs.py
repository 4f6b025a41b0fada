"""No PHI in logs: a whole clinic day through the real handlers under moto (enroll, subscribe, infusions,
results with a critical one and its alert, readiness, schedule, worklist, a failed write), the nightly
sweep that follows (plan, every shard, publish of the clinic's digest) and a critical result whose alert SNS
refuses to the writer, sent by the minute alert drain, then the patient's phone registered for reminders (and a
bad token refused) and the hourly reminder run that pushes to it, with every line the functions log
captured and searched for the birth date, the external reference, the patient's Cognito sub, the subscribed
e-mail address, the device token and request bodies.

The day runs twice: at INFO (the production level) and with every logger at DEBUG (the level the template
gives other stages). At DEBUG botocore and PynamoDB would log request and response bodies, whole items; the
layer pins them to WARNING when it is imported (``lemtrada.LIBRARY_LOGGERS``), whatever POWERTOOLS_LOG_LEVEL says.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from unittest import mock

import lemtrada
import pytest
from lemtrada import bootstrap
from lemtrada.notify.publisher import PublishError, SnsDigestPublisher
from moto.sns.models import sns_backends

from tests.conftest import ROOT
from tests.functional.api.conftest import CLINIC, CLINICIAN, Api, load_function
from tests.functional.conftest import FUNCTION_ENV, FakeLambdaContext
from tests.security.gateway import send

BIRTH_DATE = "1979-03-14"
EXTERNAL_REF = "LYON-PHI-773105"
PATIENT_SUB = "phi-sub-5a1c9e"
EMAIL = "neuro.phi-digest@example.org"
JUSTIFICATION = "intolerant-of-natalizumab-PHI"
DEVICE_TOKEN = "phi0token0d4e8b1c7a2f5e9b3d6c0a8f4e2b7d1c9a5e3f8b6d2c0a4e7f1b9d3c5a8e"
SENSITIVE = [BIRTH_DATE, "1979", EXTERNAL_REF, PATIENT_SUB, EMAIL, JUSTIFICATION, "LMT-PHI-0193", DEVICE_TOKEN]


def clinic_day(api: Api) -> None:
    """Enrollment to digest: everything a clinic does in a day, then the night's sweep."""
    enrolled = api.enroll(
        birth_date=BIRTH_DATE,
        external_ref=EXTERNAL_REF,
        patient_sub=PATIENT_SUB,
        prior_dmt_count=1,
        justification=JUSTIFICATION,
    )
    assert enrolled.status == 201, enrolled.raw
    patient = enrolled.body["patient_id"]
    for day in ("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"):
        dose = 10 if day == "2026-11-20" else 12  # a deviation the night's digest reports
        assert api.infusion(patient, day, batch_number="LMT-PHI-0193", dose_mg=dose).status == 201
    assert api.result(patient, "cbc", "2026-11-23", value=5.1, unit="g/L").status == 201
    platelets = [{"code": "platelets", "value": 15, "unit": "10*9/L"}]  # critical: an alert is published at once
    assert api.result(patient, "cbc", "2026-11-23", analytes=platelets).status == 201
    body = json.dumps({"email": EMAIL}).encode()
    answer = send(
        "POST",
        f"/clinics/{CLINIC}/subscriptions",
        claims=CLINICIAN,
        headers={"content-type": "application/json", "idempotency-key": "phi-sub-1"},
        body=body,
    )
    assert answer.status == 202, answer.body
    for path in (
        f"/patients/{patient}",
        f"/patients/{patient}/readiness",
        f"/patients/{patient}/schedule",
        f"/patients/{patient}/schedule.ics",
        f"/patients/{patient}/fhir",
        f"/clinics/{CLINIC}/worklist",
    ):
        assert send("GET", path, claims=CLINICIAN).status == 200
    # refused writes log no body either
    refused = json.dumps({"birth_date": BIRTH_DATE, "external_ref": EXTERNAL_REF, "sex": "x"}).encode()
    assert (
        send("POST", "/patients", claims=CLINICIAN, headers={"content-type": "application/json"}, body=refused).status
        == 422
    )
    # the night: plan, every shard, publish (DynamoDB repository and outbox, SNS digest)
    bootstrap.use()
    try:
        context = FakeLambdaContext()
        plan = load_function("sweep_plan").handler({"date": "2026-11-24"}, context)
        worker = load_function("sweep_worker")
        results = [worker.handler({"shard": n, "clinics": plan["clinics"]}, context) for n in plan["shards"]]
        published = load_function("sweep_publish").handler({**plan, "results": results}, context)
    finally:
        bootstrap.use()
    assert [digest["clinic_id"] for digest in published["digests"]] == [CLINIC]
    # a critical result whose alert SNS refuses to the writer, then the minute drain that sends it
    topic = sns_backends["123456789012"][FUNCTION_ENV["AWS_REGION"]].topics[FUNCTION_ENV["TOPIC_ARN"]]
    before = len(topic.sent_notifications)
    with mock.patch.object(SnsDigestPublisher, "publish", side_effect=PublishError("throttled")):
        assert api.result(patient, "cbc", "2026-11-24", analytes=platelets).status == 201
    assert len(topic.sent_notifications) == before
    drained = load_function("alert_drain").handler({"source": "aws.scheduler"}, FakeLambdaContext())
    assert drained["sent"] == 1
    assert len(topic.sent_notifications) == before + 1
    # and what went out on the topic (the digest and every alert) names no PHI either
    messages = [json.dumps(sent) for sent in topic.sent_notifications]
    assert [value for value in SENSITIVE if any(value in m for m in messages)] == []
    pushes = patient_reminders()
    assert pushes
    assert [value for value in SENSITIVE if any(value in m for m in pushes)] == []
    assert not any("cbc" in json.loads(m)["default"] for m in pushes)  # the lock screen names no test


def patient_reminders() -> list[str]:
    """The patient registers a phone (and sends a malformed token once), then the hourly run pushes its first due
    tests (2026-12-13, 09:05 in Lyon); what SNS was asked to publish to the endpoint."""
    backend = sns_backends["123456789012"][FUNCTION_ENV["AWS_REGION"]]
    application = backend.create_platform_application("lemtrada-ios", "APNS", {}).arn
    patient = {"sub": PATIENT_SUB, "cognito:groups": "[patients]"}
    headers = {"content-type": "application/json"}
    with mock.patch.dict(os.environ, {"APNS_PLATFORM_APPLICATION_ARN": application}):
        bootstrap.use()
        try:
            body = json.dumps({"platform": "apns", "token": DEVICE_TOKEN}).encode()
            assert send("PUT", "/me/devices/phi-phone", claims=patient, headers=headers, body=body).status == 201
            bad = json.dumps({"platform": "apns", "token": DEVICE_TOKEN + " x"}).encode()
            assert send("PUT", "/me/devices/phi-phone", claims=patient, headers=headers, body=bad).status == 422
            assert send("GET", "/me/devices", claims=patient).status == 200
            run = load_function("reminders").handler({"now": "2026-12-13T08:05:00Z"}, FakeLambdaContext())
        finally:
            bootstrap.use()
    assert run["pushed"] == 1, run
    return [m for endpoint in backend.platform_endpoints.values() for m in endpoint.messages.values()]


def _logged(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    logged = capsys.readouterr()
    return logged.out + logged.err + "\n".join(record.getMessage() for record in caplog.records)


def test_a_clinic_day_logs_no_phi(
    api: Api, clinic: str, topic: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # every logger at the level the template gives the functions (INFO)
    clinic_day(api)
    text = _logged(capsys, caplog)
    assert "lemtrada-regimen" in text  # the functions wrote their log and metric lines
    assert "shard swept" in text  # the sweep's lines are in the capture too
    assert "owed alerts drained" in text  # and the alert drain's
    assert "alert not accepted" in text
    assert "reminders run" in text  # and the reminder run's
    leaked = [value for value in SENSITIVE if value in text]
    assert leaked == []


def test_at_debug_the_libraries_stay_quiet_and_nothing_leaks(
    api: Api, clinic: str, topic: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger at DEBUG
    service = logging.getLogger("lemtrada-regimen")
    level = service.level
    service.setLevel(logging.DEBUG)  # what POWERTOOLS_LOG_LEVEL=DEBUG gives the functions' own logger
    try:
        clinic_day(api)
    finally:
        service.setLevel(level)
    text = _logged(capsys, caplog)
    assert not [r for r in caplog.records if r.name.split(".")[0] in lemtrada.LIBRARY_LOGGERS and r.levelno < 30]
    leaked = [value for value in SENSITIVE if value in text]
    assert leaked == []


_PROBE = """
import importlib.util, json, logging, sys
logging.getLogger().setLevel(logging.DEBUG)  # a root logger at DEBUG (Lambda's log level control, basicConfig)
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
names = sys.argv[2:]
print(json.dumps({name: logging.getLogger(name).getEffectiveLevel() for name in names}))
"""


@pytest.mark.parametrize("function", sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file()))
def test_library_loggers_are_pinned_to_warning_whatever_the_powertools_level(function: str) -> None:
    """A fresh interpreter (a new execution environment) imports the function with every level at DEBUG."""
    names = [*lemtrada.LIBRARY_LOGGERS, "botocore.endpoint", "botocore.parsers", "pynamodb.connection.base"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))},
        **FUNCTION_ENV,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "PYTHONPATH": str(ROOT / "layers" / "core"),
    }
    probe = [sys.executable, "-c", _PROBE, str(ROOT / "functions" / function / "app.py"), "lemtrada-regimen", *names]
    levels = json.loads(subprocess.run(probe, env=env, capture_output=True, text=True, check=True).stdout)
    assert levels.pop("lemtrada-regimen") == logging.DEBUG  # the service's own logger follows the setting
    assert levels == dict.fromkeys(names, logging.WARNING)
