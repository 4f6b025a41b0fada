"""WorklistUrl: an optional template parameter reaching the publish function only (the digest e-mail's address),
the clinician console's worklist when left empty."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = load_template(ROOT / "template.yaml")


def test_worklist_url_is_optional_and_an_address() -> None:
    parameter = TEMPLATE["Parameters"]["WorklistUrl"]
    assert (parameter["Type"], parameter["Default"]) == ("String", "")
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("https://clinicians.example/clinics/{clinic_id}/worklist")
    assert not pattern.fullmatch("javascript:alert(1)")
    assert not pattern.fullmatch("https://a b")


def test_only_the_publish_function_gets_it() -> None:
    holders = {
        name
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and "WORKLIST_URL" in ((resource["Properties"].get("Environment") or {}).get("Variables") or {})
    }
    assert holders == {"SweepPublishFunction"}
    variables = TEMPLATE["Resources"]["SweepPublishFunction"]["Properties"]["Environment"]["Variables"]
    # Left empty, the parameter gives way to the clinician console's worklist on its distribution.
    assert variables["WORKLIST_URL"] == {
        "Fn::If": [
            "HasWorklistUrl",
            {"Ref": "WorklistUrl"},
            {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/console/index.html#/clinics/{clinic_id}/worklist"},
        ]
    }
    assert "WORKLIST_URL" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
