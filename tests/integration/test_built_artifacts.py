"""The artifacts `scripts/sam-build.sh` produced work: every handler, imported from the built layer and function only.

Each function runs in a fresh interpreter started with ``-I -S -B`` (no site-packages, no PYTHON* variables, no
bytecode written) whose ``sys.path`` is what Lambda gives it: the built function folder (``/var/task``), a copy of
the built layer (``/opt/python``), then the packages the python3.13 runtime provides and the build prunes from the
layer (boto3, botocore, s3transfer, urllib3, taken from the app venv), then the standard library. Every sample event
of ``events/`` goes through the handler against moto's server on loopback (tables from template.yaml, the digest
topic), in the order a clinic would use the API, so the reading routes find the enrolled patient (schedule.ics
loads icalendar, /docs the Swagger UI page) and the sweep runs every shard. Each module the process loaded must come
from one of those folders: a pruning step that removes something a handler needs fails here, not in Lambda.

The layer holds AArch64 shared objects (pydantic-core). On another machine the copy gets the app venv's build of
the same package version instead (the script checks the built ones are AArch64); everything else is as built.

Skipped when ``.aws-sam/build`` is absent (``make test`` runs ``make build`` first).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.functions import read_functions
from local.tables import ensure_tables, local_table_names, table_specs
from local.template import LocalContext, Resolver, load_template, resources_of_type
from tests.conftest import ROOT, free_port

BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "CoreLayer" / "python"
EVENTS = ROOT / "events"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3")
SAMPLE_PATIENT = "3f6c0e9a8b2d4c71a5e4f0b9d8c7a6e5"
REGION = "eu-west-1"
ACCOUNT = "123456789012"

needs_build = pytest.mark.skipif(
    not (LAYER / "lemtrada").is_dir(),
    reason="no .aws-sam/build: run `make build` (scripts/sam-build.sh) first; `make test` does",
)

# The handler runs in the child; it prints nothing of its own on stdout that matters (Powertools logs go there),
# so the answers and the loaded modules are written to the file named by argv[2].
_RUNNER = r"""
import json, sys
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]


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
    json.dump({"answers": answers, "modules": modules}, out, default=str)
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


def _elf_machine(path: Path) -> int:
    machine: int = struct.unpack_from("<H", path.read_bytes()[:20], 18)[0]
    return machine


def _host_machine() -> int:
    return _elf_machine(Path(sys.executable).resolve())


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def _swap_native(layer: Path) -> list[str]:
    """Replace shared objects built for another machine by the venv's build of the same package version."""
    host = _host_machine()
    swapped = []
    for built in sorted(p for p in layer.rglob("*.so") if p.is_file()):
        if _elf_machine(built) == host:
            continue
        relative = built.relative_to(layer)
        top = relative.parts[0]
        dist_infos = sorted(layer.glob(f"{top}-*.dist-info"))
        assert dist_infos, f"{relative}: no {top}-*.dist-info in the layer to match a host build against"
        layer_version = dist_infos[0].name[len(top) + 1 : -len(".dist-info")]
        host_version = metadata.version(top)
        assert layer_version == host_version, f"{top}: layer {layer_version}, venv {host_version}"
        stem = built.name.split(".", 1)[0]
        host_builds = sorted((_site_packages() / relative.parent).glob(f"{stem}.*.so"))
        assert host_builds, f"{relative}: the venv has no build of it for this machine"
        built.unlink()
        shutil.copy2(host_builds[0], layer / relative.parent / host_builds[0].name)
        swapped.append(str(relative))
    return swapped


@pytest.fixture(scope="module")
def layer_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built layer as built, shared objects for this machine (see the module docstring)."""
    target = tmp_path_factory.mktemp("opt") / "python"
    shutil.copytree(LAYER, target, symlinks=True)
    swapped = _swap_native(target)
    if platform.machine() in ("aarch64", "arm64"):
        assert not swapped
    return target


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the Lambda runtime adds to the path and the build removes from the layer: links to the venv's copies."""
    target = tmp_path_factory.mktemp("var_runtime")
    for name in RUNTIME_PACKAGES:
        source = _site_packages() / name
        assert source.is_dir(), f"{name} is not installed in the app venv"
        (target / name).symlink_to(source, target_is_directory=True)
    return target


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
    """Starts cold processes of the built functions against the stack."""

    stack: Stack
    layer: Path
    runtime: Path
    tmp: Path
    started: int = 0

    def run(self, folder: str, events: list[Any]) -> Run:
        """One cold process: the built function, its events in order; its answers and the modules it loaded."""
        function_dir = BUILD / self.stack.functions[folder]
        assert (function_dir / "app.py").is_file(), f"{function_dir}/app.py was not built"
        self.started += 1
        out = self.tmp / f"{self.started:02d}-{folder}.json"
        spec = {
            "path": [str(function_dir), str(self.layer), str(self.runtime)],
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
        roots = [function_dir, self.layer, self.runtime, Path(sysconfig.get_paths()["stdlib"]), Path(sys.base_prefix)]
        strays = {
            name: file
            for name, file in result["modules"].items()
            if not any(Path(file).is_relative_to(root) for root in roots)
        }
        assert not strays, f"{folder} loaded modules from outside the built artifacts: {strays}"
        return Run(result["answers"], result["modules"])


def _statuses(run: Run) -> list[int]:
    return [int(answer["statusCode"]) for answer in run.answers]


@needs_build
def test_every_handler_works_from_the_built_artifacts(
    stack: Stack, layer_copy: Path, runtime_dir: Path, tmp_path: Path
) -> None:
    cold = Cold(stack, layer_copy, runtime_dir, tmp_path)
    enrollment = cold.run(
        "enrollment", [_event(f"enrollment/{n}") for n in ("put_clinic", "post_patients", "get_patients")]
    )
    assert _statuses(enrollment) == [201, 201, 200], enrollment.answers
    patient_id = json.loads(enrollment.answers[1]["body"])["patient_id"]

    patch = cold.run("enrollment", [_event("enrollment/patch_patient", patient_id)])
    assert _statuses(patch) == [409], patch.answers  # the sample's If-Match names a version this patient never had

    recording = cold.run("recording", [_event(f"recording/{n}", patient_id) for n in ("post_infusion", "post_result")])
    assert _statuses(recording) == [201, 201], recording.answers

    reads = ("get_patient", "get_readiness", "get_schedule", "get_schedule_ics", "get_worklist", "get_me", "get_docs")
    reading = cold.run("reading", [_event(f"reading/{n}", patient_id) for n in reads])
    assert _statuses(reading) == [200] * len(reads), reading.answers
    assert "BEGIN:VCALENDAR" in reading.answers[3]["body"]
    assert "docs/swagger-ui-bundle.js" in reading.answers[6]["body"]
    assert "icalendar" in reading.modules

    subscriptions = cold.run("subscriptions", [_event("subscriptions/post_subscription")])
    assert _statuses(subscriptions) == [202], subscriptions.answers

    health = cold.run("health", [_event("health/get_health")])
    assert _statuses(health) == [200], health.answers

    plan = cold.run("sweep_plan", [_event("sweep/replay_date")])
    clinics, shards = plan.answers[0]["clinics"], plan.answers[0]["shards"]
    assert "lyon-neuro" in clinics, plan.answers
    worker = cold.run("sweep_worker", [{"shard": n, "clinics": clinics} for n in shards])
    assert [answer["shard"] for answer in worker.answers] == shards, worker.answers
    publish = cold.run("sweep_publish", [_event("sweep/publish")])
    assert publish.answers[0]["failed"] == [], publish.answers
