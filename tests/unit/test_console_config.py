"""scripts/console_config.py: the deployed console's config.json from the stack's outputs (README "Clinician
console"), naming what the template outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[1].parent


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("console_config", ROOT / "scripts" / "console_config.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OUTPUTS = [
    {"OutputKey": "ApiUrl", "OutputValue": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"},
    {"OutputKey": "ConsoleUrl", "OutputValue": "https://d111111abcdef8.cloudfront.net/console/index.html"},
    {"OutputKey": "ConsoleClientId", "OutputValue": "5q7k2n1example"},
    {"OutputKey": "ConsoleAuthDomain", "OutputValue": "https://lemtrada-prod-1.auth.eu-west-1.amazoncognito.com"},
    {"OutputKey": "UserPoolId", "OutputValue": "eu-west-1_EXAMPLE"},
]


def test_the_config_names_the_api_and_the_hosted_ui() -> None:
    config = _module().console_config(OUTPUTS)
    assert config == {
        "auth": "cognito",
        "api_base": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod",
        "auth_domain": "https://lemtrada-prod-1.auth.eu-west-1.amazoncognito.com",
        "client_id": "5q7k2n1example",
        "redirect_uri": "https://d111111abcdef8.cloudfront.net/console/index.html",
        "logout_uri": "https://d111111abcdef8.cloudfront.net/console/index.html",
    }
    custom = _module().console_config(OUTPUTS, "https://console.clinic.example/console/index.html")
    assert custom["redirect_uri"] == custom["logout_uri"] == "https://console.clinic.example/console/index.html"


def test_a_stack_without_the_console_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ConsoleClientId"):
        _module().console_config([item for item in OUTPUTS if item["OutputKey"] != "ConsoleClientId"])


def test_the_template_outputs_everything_the_config_needs() -> None:
    outputs = load_template(ROOT / "template.yaml")["Outputs"]
    assert set(_module().NEEDED) | {"ConsoleBucketName"} <= set(outputs)
