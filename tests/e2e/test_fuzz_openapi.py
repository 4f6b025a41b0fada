"""An independent fuzzer against the live local stack: schemathesis, docs/openapi.json, a local clinician token.

The run uses the server-error, status-code, content-type and response-schema checks over every phase
(coverage, fuzzing, stateful) and must report no failure. Path parameters point at a clinic and a patient created
first, so requests reach the handlers instead of stopping at 404. The seed is fixed so CI is reproducible;
`FUZZ_SEED=<n>` explores others, `FUZZ_EXAMPLES=<n>` runs more cases per operation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SUMMARY = re.compile(r"(\d+) generated, (\d+) passed")


def _seed_data(stack: RunningStack, clinic_id: str) -> str:
    """A clinic and one patient in it; returns the patient's id."""
    admin = stack.headers("admins")
    clinic = {"name": "Fuzz clinic", "timezone": "Europe/Paris", "label": "US"}
    created = requests.put(f"{stack.base_url}/clinics/{clinic_id}", json=clinic, headers=admin, timeout=15)
    assert created.status_code == 201, created.text
    enrollment = {
        "birth_date": "1990-03-14",
        "sex": "female",
        "reproductive_potential": True,
        "diagnosis": "relapsing_remitting",
        "prior_dmt_count": 2,
        "contraindications": [],
        "patient_sub": str(uuid.uuid4()),
    }
    headers = {**stack.headers("clinicians", clinic_id=clinic_id), "Idempotency-Key": f"fuzz-{clinic_id}"}
    enrolled = requests.post(f"{stack.base_url}/patients", json=enrollment, headers=headers, timeout=15)
    assert enrolled.status_code == 201, enrolled.text
    patient_id: str = enrolled.json()["patient_id"]
    return patient_id


def test_schemathesis_finds_no_failure_on_the_live_stack(local_stack: RunningStack, tmp_path: Path) -> None:
    clinic_id = f"fuzz-{uuid.uuid4().hex[:8]}"
    patient_id = _seed_data(local_stack, clinic_id)
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.clinic_id" = "{clinic_id}"\n"path.patient_id" = "{patient_id}"\n')
    token = local_stack.token("clinicians", clinic_id=clinic_id)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        str(ROOT / "docs" / "openapi.json"),
        "--url",
        local_stack.base_url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        os.environ.get("FUZZ_EXAMPLES", "10"),
        "--seed",
        os.environ.get("FUZZ_SEED", "1"),
        "--generation-database",
        "none",
        "--no-color",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=420, check=False)
    output = result.stdout + result.stderr
    summary = SUMMARY.search(output)
    assert result.returncode == 0, output[-6000:]
    assert summary is not None, output[-3000:]
    generated, passed = int(summary.group(1)), int(summary.group(2))
    assert generated >= 300, output[-3000:]  # every operation, every phase: a run that tested little is no evidence
    assert passed == generated
    sys.stderr.write(f"\nschemathesis: {generated} cases, {passed} passed\n")
