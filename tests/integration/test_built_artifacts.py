"""The artifacts `scripts/sam-build.sh` produced work as Lambda runs them: every handler, from the built layer and
function only, on read-only copies, with the bytecode they ship.

Each function runs in a fresh interpreter started with ``-I -S -B`` (no site-packages, no PYTHON* variables, no
bytecode written) whose ``sys.path`` is what Lambda gives it: a copy of the built function folder (``/var/task``),
a copy of the built layer (``/opt/python``), then the packages the python3.13 runtime provides and the build
removes from the layer (boto3, botocore, s3transfer, urllib3 with their dependencies, copied from the app venv and
compiled unchecked-hash as the runtime ships them), then the standard library; the copies are read-only
(``bench.cold_start.prepare``, which the cold-start bench uses too). Every sample event of ``events/`` goes through
the handler against moto's server on loopback (tables from template.yaml, the digest topic), in the order a clinic
would use the API, so the reading routes find the enrolled patient (schedule.ics loads icalendar, /docs the Swagger
UI page) and the sweep runs every shard. Each module the process loaded must come from one of those folders, and
none of the artifacts' modules may be compiled from source in the process: the shipped ``.pyc`` must be the code
that runs.

The layer holds AArch64 shared objects (pydantic-core). On another machine the copy gets this interpreter's build
of the same package version instead (the build script checks the built ones are AArch64); everything else is as
built.

Skipped when ``.aws-sam/build`` is absent (``make test`` runs ``make build`` first).
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bench.cold_start import Artifacts, artifacts
from local.functions import read_functions
from local.tables import ensure_tables, local_table_names, table_specs
from local.template import LocalContext, Resolver, load_template, resources_of_type
from tests.conftest import ROOT, free_port

BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "CoreLayer" / "python"
EVENTS = ROOT / "events"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3")  # the only packages the build removes
UNCHECKED_HASH = 0b01  # PEP 552 flags word: bit 0 hash-based, bit 1 check the source
SAMPLE_PATIENT = "3f6c0e9a8b2d4c71a5e4f0b9d8c7a6e5"
REGION = "eu-west-1"
ACCOUNT = "123456789012"

needs_build = pytest.mark.skipif(
    not (LAYER / "lemtrada").is_dir(),
    reason="no .aws-sam/build: run `make build` (scripts/sam-build.sh) first; `make test` does",
)

# The handler runs in the child; it prints nothing of its own on stdout that matters (Powertools logs go there),
# so the answers, the loaded modules and the files compiled from source are written to the file named by argv[2].
_RUNNER = r"""
import json, sys
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
from importlib.machinery import SourceFileLoader
compiled = []
_source_to_code = SourceFileLoader.source_to_code


def _counting(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return _source_to_code(self, data, path, *args, **kwargs)


SourceFileLoader.source_to_code = _counting


class Context:
    function_name = spec["function"]
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:" + spec["function"]
    aws_request_id = "5b2f5e0c-8a8e-4b0e-9d6f-1f2a3b4c5d6e"
    log_group_name = "/aws/lambda/" + spec["function"]
    log_stream_name = "2026/11/24/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self):
        return 5000


import app

answers = []
for event in spec["events"]:
    answers.append(app.handler(event, Context()))
modules = {
    name: getattr(module, "__file__", None)
    for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
}
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump({"answers": answers, "modules": modules, "compiled": compiled}, out, default=str)
"""


@dataclass(frozen=True)
class Stack:
    """moto on loopback with the template's tables and topic, and each function's environment pointing at it."""

    endpoint: str
    environments: dict[str, dict[str, str]]  # function folder name -> variables
    functions: dict[str, str]  # function folder name -> logical id


@dataclass(frozen=True)
class Run:
    answers: list[Any]
    modules: dict[str, str]


@pytest.fixture(scope="module")
def built() -> Iterator[Artifacts]:
    """Read-only copies of the built layer and functions and of the compiled runtime (see the module docstring)."""
    with artifacts() as found:
        yield found


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        template = load_template(ROOT / "template.yaml")
        names = local_table_names(template)
        refs: dict[str, str] = dict(names)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        sns = session.client("sns", endpoint_url=endpoint)
        for logical_id in resources_of_type(template, "AWS::SNS::Topic"):
            refs[logical_id] = sns.create_topic(Name=logical_id)["TopicArn"]
        resolver = Resolver(template, LocalContext(refs=refs, parameters={"Stage": "test"}))
        ensure_tables(session.client("dynamodb", endpoint_url=endpoint), table_specs(template, resolver, names))
        specs = read_functions(template, resolver, ROOT)
        environments = {}
        functions = {}
        for logical_id, spec in specs.items():
            folder = spec.code_uri.name
            functions[folder] = logical_id
            environments[folder] = {
                **spec.environment,
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_LAMBDA_FUNCTION_NAME": logical_id,
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        yield Stack(endpoint, environments, functions)
    finally:
        server.stop()


def _event(name: str, patient_id: str | None = None) -> Any:
    text = (EVENTS / f"{name}.json").read_text(encoding="utf-8")
    if patient_id is not None:
        text = text.replace(SAMPLE_PATIENT, patient_id)
    return json.loads(text)


@dataclass
class Cold:
    """Starts cold processes of the built functions (their read-only copies) against the stack."""

    stack: Stack
    built: Artifacts
    tmp: Path
    started: int = 0

    def run(self, folder: str, events: list[Any]) -> Run:
        """One cold process: the built function, its events in order; its answers and the modules it loaded."""
        function_dir = self.built.functions[folder]
        assert (function_dir / "app.py").is_file(), f"{function_dir}/app.py was not built"
        self.started += 1
        out = self.tmp / f"{self.started:02d}-{folder}.json"
        spec = {
            "path": [str(function_dir), str(self.built.layer), str(self.built.runtime)],
            "function": self.stack.functions[folder],
            "events": events,
        }
        keep = {name: os.environ[name] for name in ("PATH", "LANG", "TMPDIR") if name in os.environ}
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", _RUNNER, json.dumps(spec), str(out)],
            cwd=self.tmp,
            env={**keep, **self.stack.environments[folder]},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{folder} failed in its built form:\n{done.stderr[-4000:]}"
        result = json.loads(out.read_text(encoding="utf-8"))
        artifacts_roots = [function_dir, self.built.layer, self.built.runtime]
        roots = [*artifacts_roots, Path(sysconfig.get_paths()["stdlib"]), Path(sys.base_prefix)]
        strays = {
            name: file
            for name, file in result["modules"].items()
            if not any(Path(file).is_relative_to(root) for root in roots)
        }
        assert not strays, f"{folder} loaded modules from outside the built artifacts: {strays}"
        compiled = [file for file in result["compiled"] if any(Path(file).is_relative_to(r) for r in artifacts_roots)]
        assert not compiled, f"{folder} compiled shipped modules from source (their .pyc did not run): {compiled}"
        return Run(result["answers"], result["modules"])


def _statuses(run: Run) -> list[int]:
    return [int(answer["statusCode"]) for answer in run.answers]


@needs_build
def test_every_handler_works_from_the_built_artifacts(stack: Stack, built: Artifacts, tmp_path: Path) -> None:
    cold = Cold(stack, built, tmp_path)
    enrollment = cold.run(
        "enrollment", [_event(f"enrollment/{n}") for n in ("put_clinic", "post_patients", "get_patients")]
    )
    assert _statuses(enrollment) == [201, 201, 200], enrollment.answers
    patient_id = json.loads(enrollment.answers[1]["body"])["patient_id"]

    patch = cold.run("enrollment", [_event("enrollment/patch_patient", patient_id)])
    assert _statuses(patch) == [409], patch.answers  # the sample's If-Match names a version this patient never had

    recording = cold.run("recording", [_event(f"recording/{n}", patient_id) for n in ("post_infusion", "post_result")])
    assert _statuses(recording) == [201, 201], recording.answers

    reads = (
        "get_patient",
        "get_readiness",
        "get_schedule",
        "get_schedule_ics",
        "get_worklist",
        "get_me",
        "get_docs",
        "get_patient_fhir",
    )
    reading = cold.run("reading", [_event(f"reading/{n}", patient_id) for n in reads])
    assert _statuses(reading) == [200] * len(reads), reading.answers
    assert "BEGIN:VCALENDAR" in reading.answers[3]["body"]
    assert "docs/swagger-ui-bundle.js" in reading.answers[6]["body"]
    fhir = reading.answers[7]  # the sample takes gzip: base64 of the gzipped Bundle
    assert fhir["isBase64Encoded"], fhir
    assert json.loads(gzip.decompress(base64.b64decode(fhir["body"])))["type"] == "collection"
    assert "icalendar" in reading.modules
    assert not [name for name in reading.modules if name.split(".")[0] in {"fhir", "fhirclient", "fhir_core"}]

    subscriptions = cold.run("subscriptions", [_event("subscriptions/post_subscription")])
    assert _statuses(subscriptions) == [202], subscriptions.answers

    health = cold.run("health", [_event("health/get_health")])
    assert _statuses(health) == [200], health.answers

    # The lab function ships its own hl7 package (functions/lab_results/requirements.txt), not the layer.
    lab = cold.run("lab_results", [_event("lab_results/post_lab_results")])
    assert _statuses(lab) == [200], lab.answers
    statuses = [entry["response"]["status"] for entry in json.loads(lab.answers[0]["body"])["entry"]]
    assert statuses == ["201 Created"] * 4, lab.answers
    assert "hl7" in lab.modules
    assert lab.modules["hl7"].startswith(str(built.functions["lab_results"])), lab.modules["hl7"]

    plan = cold.run("sweep_plan", [_event("sweep/replay_date")])
    clinics, shards = plan.answers[0]["clinics"], plan.answers[0]["shards"]
    assert "lyon-neuro" in clinics, plan.answers
    worker = cold.run("sweep_worker", [{"shard": n, "clinics": clinics} for n in shards])
    assert [answer["shard"] for answer in worker.answers] == shards, worker.answers
    publish = cold.run("sweep_publish", [_event("sweep/publish")])
    assert publish.answers[0]["failed"] == [], publish.answers

    drain = cold.run("alert_drain", [_event("alert_drain/scheduler")])
    assert drain.answers[0]["failed"] == 0, drain.answers


@needs_build
def test_every_module_ships_unchecked_hash_bytecode_for_python_313() -> None:
    """Each .py of the built layer and functions has its .pyc where 3.13 looks (``__pycache__/*.cpython-313.pyc``),
    with 3.13's magic number and the unchecked-hash flag, so a cold start neither compiles nor checks sources."""
    sources = sorted(path for path in BUILD.rglob("*.py") if path.is_file())
    assert len(sources) > 500, len(sources)  # the whole layer, not only lemtrada
    assert {path.relative_to(BUILD).parts[0] for path in sources} >= {"CoreLayer", *_function_ids()}
    wrong = []
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert Path(importlib.util.cache_from_source(str(source))) == cached  # this interpreter is 3.13
        if not cached.is_file():
            wrong.append(f"{source}: no {cached.name}")
            continue
        header = cached.read_bytes()[:16]
        if header[:4] != importlib.util.MAGIC_NUMBER:
            wrong.append(f"{cached}: magic {header[:4].hex()}, not Python 3.13's")
        elif int.from_bytes(header[4:8], "little") != UNCHECKED_HASH:
            wrong.append(f"{cached}: flags {int.from_bytes(header[4:8], 'little'):#04b}, not unchecked-hash")
    assert not wrong, "\n".join(wrong[:20])


@needs_build
def test_the_shipped_bytecode_runs_without_reading_the_sources(stack: Stack, tmp_path: Path) -> None:
    """In a copy whose lemtrada sources and handler file say only ``raise ImportError``, the health function still
    answers: Python ran the unchecked-hash .pyc and never read the source (the flag is not just set, it is obeyed)."""
    with artifacts() as found:
        sources = [*(found.layer / "lemtrada").rglob("*.py"), found.functions["health"] / "app.py"]
        for source in sources:
            source.chmod(0o644)
            source.write_text('raise ImportError("the source was read, not the shipped .pyc")\n', encoding="utf-8")
            source.chmod(0o444)
        health = Cold(stack, found, tmp_path).run("health", [_event("health/get_health")])
    assert _statuses(health) == [200], health.answers
    assert health.modules["app"] == str(found.functions["health"] / "app.py")


@needs_build
def test_the_layer_drops_only_what_the_runtime_provides() -> None:
    """boto3, botocore, s3transfer and urllib3 are gone; library internals the build used to prune are all there
    (Powertools' Swagger UI assets, which /docs serves, its utilities, pydantic.v1, tzdata's tables, metadata)."""
    for name in RUNTIME_PACKAGES:
        assert not (LAYER / name).exists(), name
        assert not list(LAYER.glob(f"{name}-*.dist-info")), name
    powertools = LAYER / "aws_lambda_powertools"
    for kept in (
        powertools / "event_handler" / "openapi" / "swagger_ui" / "swagger-ui-bundle.min.js",
        powertools / "event_handler" / "openapi" / "swagger_ui" / "swagger-ui.min.css",
        powertools / "utilities" / "parser" / "__init__.py",
        powertools / "event_handler" / "middlewares" / "schema_validation.py",
        LAYER / "pydantic" / "v1" / "__init__.py",
        LAYER / "tzdata" / "zoneinfo" / "tzdata.zi",
    ):
        assert kept.is_file(), kept
    for dist_info in LAYER.glob("*.dist-info"):
        assert (dist_info / "RECORD").is_file(), dist_info


def _function_ids() -> set[str]:
    template = load_template(ROOT / "template.yaml")
    return set(resources_of_type(template, "AWS::Serverless::Function"))
