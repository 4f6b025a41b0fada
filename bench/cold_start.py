"""Cold start as Lambda runs it: the built artifacts, read-only, no bytecode cache but the one they ship.

What Lambda does at a cold start of an HTTP function: a new interpreter whose path is the function folder
(``/var/task``), the layer (``/opt/python``) and the runtime's own libraries (boto3, botocore and their
dependencies, compiled as the runtime ships them), on read-only file systems, so no ``__pycache__`` can be
written and a module without a shipped ``.pyc`` is compiled on every cold start; then the handler's import and
its first request. This bench reproduces that, from ``.aws-sam/build`` only (``make build``):

- a temporary copy of the built layer and of each built function (shared objects built for another machine are
  swapped for the app venv's build of the same version, as ``tests/integration/test_built_artifacts.py`` does),
  and a copy of the runtime's libraries taken from the app venv and compiled with unchecked-hash, like the built
  artifacts; the whole copy is made read-only (``chmod -R a-w``);
- one fresh ``python -I -S -B`` per sample (no site-packages, no ``PYTHON*`` variables, so no
  ``PYTHONPYCACHEPREFIX``, and no bytecode written), whose ``sys.path`` is the copies above and the standard
  library, with the environment the template gives the function;
- timed: ``import app`` plus the handler answering one representative sample event of ``events/`` (writes with a
  new Idempotency-Key) against moto's server on loopback (tables and topic from template.yaml, a clinic and a
  patient seeded first through the built enrollment function); the baseline is ``import boto3``, a DynamoDB
  client and one GetItem on the same server, from the same compiled runtime copy;
- probes interleaved, one discarded warm-up each (the page cache, not bytecode), median of ``runs``.

Each probe also counts the modules it compiled from source (a hook on ``SourceFileLoader.source_to_code``): with
the shipped bytecode that count is 0 for the artifacts. ``--without-bytecode`` removes the ``__pycache__``
folders of the layer and function copies (the runtime copy stays compiled) to show what shipping no bytecode costs.

    .venv/bin/python -m bench.cold_start [--runs 15] [--without-bytecode] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import stat
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from local.functions import read_functions
from local.template import LocalContext, Resolver, load_template, resources_of_type

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "CoreLayer" / "python"
EVENTS = ROOT / "events"
# What the python3.13 runtime provides: the four the build removes from the layer, and what botocore needs.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six")
GOAL = 1.3
LAYER_BUDGET_MB = 40  # scripts/sam-build.sh fails above it (Lambda's limit: 250 MB unzipped with the function)
BASELINE = "boto3+client+call"
# One request per HTTP function: its sample event (the sample patient id swapped for the seeded one).
FIRST_REQUESTS = {
    "enrollment": "enrollment/post_patients",
    "health": "health/get_health",
    "reading": "reading/get_patient",
    "recording": "recording/post_result",
    "subscriptions": "subscriptions/post_subscription",
    "lab_results": "lab_results/post_lab_results",
}
SAMPLE_PATIENT = "3f6c0e9a8b2d4c71a5e4f0b9d8c7a6e5"
REGION = "us-east-1"
ACCOUNT = "123456789012"

# The child: path and event come in argv[1]; only the body between the two clocks is timed. It prints one JSON
# line: seconds, the modules it compiled from source, and the answer (kept by the seeding run).
_PROBE = r"""
import json, sys, time
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
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"]
    aws_request_id = "5b2f5e0c-8a8e-4b0e-9d6f-1f2a3b4c5d6e"
    log_group_name = "/aws/lambda/" + spec["function"]
    log_stream_name = "2026/11/24/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self):
        return 5000


events = spec["events"]
started, cpu_started = time.perf_counter(), time.process_time()
{body}
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print(json.dumps({{"seconds": elapsed, "cpu": cpu, "compiled": compiled, "answers": answers}}, default=str))
"""
_FUNCTION_BODY = "import app\nanswers = [app.handler(event, Context()) for event in events]"
_BASELINE_BODY = (
    'import boto3\nclient = boto3.client("dynamodb")\n'
    'client.get_item(TableName="RegimenTable", Key={"pk": {"S": "CLINIC"}, "sk": {"S": "lyon-neuro"}})\n'
    "answers = []"
)


@dataclass(frozen=True)
class Artifacts:
    """Read-only copies: the layer (``/opt/python``), each function by folder name (``/var/task``), the runtime."""

    layer: Path
    functions: dict[str, Path]
    runtime: Path

    @property
    def roots(self) -> list[Path]:
        return [self.layer, self.runtime, *self.functions.values()]


@dataclass(frozen=True)
class Probe:
    name: str
    route: str
    function: str  # logical id ("" for the baseline)
    path: list[str]
    environment: dict[str, str]
    body: str
    event: str | None  # events/ name, for a fresh copy per run


@dataclass(frozen=True)
class Sample:
    seconds: float  # wall time of import + first request
    cpu: float  # the process's own CPU time over the same span (moto's time is the parent's)
    compiled: list[str]  # source files compiled in the process, anywhere
    answers: list[Any]
    calls: int = 0  # requests moto served meanwhile
    mock: float = 0.0  # seconds moto spent serving them


@dataclass(frozen=True)
class Result:
    """Medians over the runs, in seconds."""

    name: str
    route: str
    wall: float  # import + first request, moto's handling included
    own: float  # the same minus the time moto spent answering: what the goal is judged on
    cpu: float  # the process's CPU time: less sensitive than wall time to other load on the machine
    calls: int  # AWS requests the first request made
    compiled: int  # modules of the artifacts compiled from source in one cold process (0 with shipped bytecode)


def _elf_machine(path: Path) -> int:
    machine: int = struct.unpack_from("<H", path.read_bytes()[:20], 18)[0]
    return machine


def swap_native(layer: Path) -> list[str]:
    """Replace shared objects built for another machine by the venv's build of the same package version."""
    host = _elf_machine(Path(sys.executable).resolve())
    swapped = []
    for built in sorted(p for p in layer.rglob("*.so") if p.is_file()):
        if _elf_machine(built) == host:
            continue
        relative = built.relative_to(layer)
        top = relative.parts[0]
        dist_infos = sorted(layer.glob(f"{top}-*.dist-info"))
        if not dist_infos:
            raise RuntimeError(f"{relative}: no {top}-*.dist-info in the layer to match a host build against")
        layer_version = dist_infos[0].name[len(top) + 1 : -len(".dist-info")]
        host_version = metadata.version(top)
        if layer_version != host_version:
            raise RuntimeError(f"{top}: layer {layer_version}, venv {host_version}: the native swap needs one version")
        found = importlib.util.find_spec(top)
        if found is None or found.origin is None:
            raise RuntimeError(f"{top} is not importable here: no build of {relative} for this machine")
        stem = built.name.split(".", 1)[0]
        host_builds = sorted((Path(found.origin).parent.parent / relative.parent).glob(f"{stem}.*.so"))
        if not host_builds:
            raise RuntimeError(f"{relative}: the venv has no build of it for this machine")
        built.unlink()
        shutil.copy2(host_builds[0], layer / relative.parent / host_builds[0].name)
        swapped.append(str(relative))
    return swapped


_COMPILE = [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]


def copy_runtime(target: Path) -> Path:
    """The runtime's libraries from the app venv, without its bytecode, compiled unchecked-hash as Lambda ships them."""
    target.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed in the app venv")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, target / origin.name)
    # In a child: compileall's workers would re-import the caller's __main__ under the forkserver start method.
    compiled = subprocess.run(
        [*_COMPILE, "-s", str(target), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if compiled.returncode != 0:
        raise RuntimeError(f"compileall failed on {target}:\n{compiled.stdout[-2000:]}{compiled.stderr[-2000:]}")
    return target


def _read_only(root: Path) -> None:
    """``chmod -R a-w``: nothing in the copy can be rewritten, no ``__pycache__`` created (as Lambda's mounts)."""
    write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~write)


def _writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def built_functions(build: Path = BUILD) -> dict[str, Path]:
    """Function folder name (functions/<name>) -> its built folder (``.aws-sam/build/<LogicalId>``)."""
    template = load_template(ROOT / "template.yaml")
    resolver = Resolver(template, LocalContext(refs={}, parameters={"Stage": "bench"}))
    return {
        spec.code_uri.name: build / logical_id for logical_id, spec in read_functions(template, resolver, ROOT).items()
    }


def prepare(target: Path, build: Path = BUILD, bytecode: bool = True) -> Artifacts:
    """Copies of the built layer and functions and a compiled runtime under ``target``, made read-only."""
    if not (build / "CoreLayer" / "python" / "lemtrada").is_dir():
        raise RuntimeError(f"no built layer in {build}: run `make build` (scripts/sam-build.sh) first")
    layer = target / "opt" / "python"
    shutil.copytree(build / "CoreLayer" / "python", layer, symlinks=True)
    swap_native(layer)
    functions = {}
    for name, built in built_functions(build).items():
        functions[name] = target / "task" / built.name
        shutil.copytree(built, functions[name], symlinks=True)
    if not bytecode:
        for root in (layer, *functions.values()):
            for cache in sorted(root.rglob("__pycache__"), reverse=True):
                shutil.rmtree(cache)
    runtime = copy_runtime(target / "runtime")
    _read_only(target)
    return Artifacts(layer, functions, runtime)


@contextmanager
def artifacts(bytecode: bool = True) -> Iterator[Artifacts]:
    """``prepare`` in a temporary folder, removed afterwards (write permission restored first)."""
    folder = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        yield prepare(folder, bytecode=bytecode)
    finally:
        _writable(folder)
        shutil.rmtree(folder)


def _environment(extra: dict[str, str]) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG", "TMPDIR")}
    fake = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    return {**keep, **fake, **extra}


def _route(event_name: str) -> str:
    event = json.loads((EVENTS / f"{event_name}.json").read_text(encoding="utf-8"))
    route: str = event.get("routeKey", "")
    return route


def probes(found: Artifacts, endpoint: str) -> list[Probe]:
    """The baseline, then one probe per HTTP function: its environment from the template, pointed at ``endpoint``."""
    template = load_template(ROOT / "template.yaml")
    refs = {logical_id: logical_id for logical_id in (template.get("Resources") or {})}
    for logical_id in resources_of_type(template, "AWS::SNS::Topic"):
        refs[logical_id] = f"arn:aws:sns:{REGION}:{ACCOUNT}:{logical_id}"
    resolver = Resolver(template, LocalContext(refs=refs, parameters={"Stage": "bench"}))
    specs = {spec.code_uri.name: spec for spec in read_functions(template, resolver, ROOT).values()}
    extra = {"AWS_ENDPOINT_URL": endpoint}
    baseline = Probe(BASELINE, "GetItem", "", [str(found.runtime)], _environment(extra), _BASELINE_BODY, None)
    found_probes = [baseline]
    for name, event_name in FIRST_REQUESTS.items():
        spec, task = specs[name], found.functions[name]
        environment = {
            **spec.environment,
            **extra,
            "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
            "LAMBDA_TASK_ROOT": str(task),
        }
        path = [str(task), str(found.layer), str(found.runtime)]
        found_probes.append(
            Probe(
                name, _route(event_name), spec.logical_id, path, _environment(environment), _FUNCTION_BODY, event_name
            )
        )
    return found_probes


def _event(event_name: str, patient_id: str) -> Any:
    """A fresh copy of a sample event: the seeded patient, a new Idempotency-Key and a new user for links."""
    text = (EVENTS / f"{event_name}.json").read_text(encoding="utf-8").replace(SAMPLE_PATIENT, patient_id)
    # A lab delivery is new each time (new lab identifiers) and corrects the stored values: every sample writes.
    text = text.replace("LAB-20261120-0412-", f"LAB-{uuid.uuid4().hex[:12]}-").replace('\\"final\\"', '\\"corrected\\"')
    event = json.loads(text)
    headers = event.get("headers") or {}
    for key in list(headers):
        if key.lower() == "idempotency-key":
            headers[key] = uuid.uuid4().hex
    if '"patient_sub"' in (event.get("body") or ""):  # a user links to one patient only
        body = json.loads(event["body"])
        body["patient_sub"] = str(uuid.uuid4())
        event["body"] = json.dumps(body)
    return event


def run_once(probe: Probe, events: list[Any]) -> Sample:
    """One fresh ``python -I -S -B`` process: the probe's body timed, its answers checked."""
    spec = {"path": probe.path, "function": probe.function or "baseline", "events": events}
    output = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", _PROBE.format(body=probe.body), json.dumps(spec)],
        cwd=probe.path[0],
        env=probe.environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"{probe.name}: the cold process failed:\n{output.stderr[-3000:]}")
    line = next(line for line in reversed(output.stdout.splitlines()) if line.startswith('{"seconds"'))
    result = json.loads(line)
    for answer in result["answers"]:
        if int(answer["statusCode"]) >= 300:
            raise RuntimeError(f"{probe.name}: unexpected answer {json.dumps(answer)[:500]}")
    return Sample(result["seconds"], result["cpu"], result["compiled"], result["answers"])


def _seed(found: Artifacts, endpoint: str) -> str:
    """Tables and topic from the template on moto's server, then the sample clinic and one patient, enrolled by
    the built enrollment function. Returns the patient id."""
    import boto3  # noqa: PLC0415 - the parent needs a client here only

    from local.tables import ensure_tables, local_table_names, table_specs  # noqa: PLC0415

    template = load_template(ROOT / "template.yaml")
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
    for logical_id in resources_of_type(template, "AWS::SNS::Topic"):
        session.client("sns", endpoint_url=endpoint).create_topic(Name=logical_id)
    names = local_table_names(template)
    resolver = Resolver(template, LocalContext(refs=dict(names), parameters={"Stage": "bench"}))
    ensure_tables(session.client("dynamodb", endpoint_url=endpoint), table_specs(template, resolver, names))
    enrollment = next(probe for probe in probes(found, endpoint) if probe.name == "enrollment")
    events = [_event(f"enrollment/{name}", SAMPLE_PATIENT) for name in ("put_clinic", "post_patients")]
    answers = run_once(enrollment, events).answers
    patient_id: str = json.loads(answers[-1]["body"])["patient_id"]
    return patient_id


class MockServer:
    """moto's server on a free loopback port, timing its own handling of each request.

    Lambda's DynamoDB answers in a few milliseconds; moto on a shared 2-core machine takes tens. The time moto
    spends on each request (counted here, in the server thread) is subtracted from a probe's wall time to give the
    function's own time, so a write making four calls is not charged moto's work four times.
    """

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - a dev dependency, only for this bench
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        app = DomainDispatcherApplication(create_backend_app)
        self.calls = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

        def timed(environ: dict[str, Any], start_response: Any) -> Any:
            started = time.perf_counter()
            try:
                return list(app(environ, start_response))
            finally:
                with self._lock:
                    self.calls += 1
                    self.seconds += time.perf_counter() - started

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = make_server("127.0.0.1", 0, timed, threaded=True, request_handler=MotoRequestHandler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> MockServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._thread.join()

    def reset(self) -> tuple[int, float]:
        """Calls and seconds since the last reset."""
        with self._lock:
            counted = self.calls, self.seconds
            self.calls, self.seconds = 0, 0.0
            return counted


def measure(runs: int = 15, bytecode: bool = True, warm_up: bool = True) -> list[Result]:
    """Median of ``runs`` cold processes per probe (interleaved, one warm-up each discarded unless ``warm_up`` is
    false: the smoke test's single sample), baseline first."""
    with MockServer() as server, artifacts(bytecode) as found:
        patient_id = _seed(found, server.endpoint)
        all_probes = probes(found, server.endpoint)

        def once(probe: Probe) -> Sample:
            events = [_event(probe.event, patient_id)] if probe.event else []
            server.reset()
            sample = run_once(probe, events)
            calls, seconds = server.reset()
            return dataclasses.replace(sample, calls=calls, mock=seconds)

        first = {probe.name: once(probe) for probe in all_probes} if warm_up else {}
        samples: dict[str, list[Sample]] = {probe.name: [] for probe in all_probes}
        for _ in range(runs):
            for probe in all_probes:
                samples[probe.name].append(once(probe))
        first = first or {name: found_samples[0] for name, found_samples in samples.items()}
        compiled = {
            name: sum(1 for path in sample.compiled if any(Path(path).is_relative_to(root) for root in found.roots))
            for name, sample in first.items()
        }

    def median(name: str, value: Callable[[Sample], float]) -> float:
        return statistics.median(value(sample) for sample in samples[name])

    return [
        Result(
            name=probe.name,
            route=probe.route,
            wall=median(probe.name, lambda sample: sample.seconds),
            own=median(probe.name, lambda sample: sample.seconds - sample.mock),
            cpu=median(probe.name, lambda sample: sample.cpu),
            calls=samples[probe.name][-1].calls,
            compiled=compiled[probe.name],
        )
        for probe in all_probes
    ]


def ratios(results: list[Result], measure: str = "own") -> dict[str, float]:
    """Each function's median over the baseline's, for one measure: "own" (the goal), "wall" or "cpu"."""
    base = next(result for result in results if result.name == BASELINE)
    return {
        result.name: getattr(result, measure) / getattr(base, measure) for result in results if result.name != BASELINE
    }


def worst(results: list[Result]) -> tuple[str, float]:
    """The function farthest from the goal and its ratio."""
    own = ratios(results)
    name = max(own, key=own.__getitem__)
    return name, own[name]


def table(results: list[Result], runs: int) -> str:
    """One line per probe: own ms and ratio (the goal), wall and CPU ratios, AWS calls, modules compiled."""
    own, wall, cpu = ratios(results), ratios(results, "wall"), ratios(results, "cpu")
    lines = [
        f"{'probe':<18} {'first request':<38} {'own ms':>6} {'ratio':>6}  {'<= ' + str(GOAL) + 'x':<7}"
        f"{'wall ms':>8} {'ratio':>6} {'cpu ms':>7} {'ratio':>6} {'calls':>5} {'compiled':>8}",
    ]
    for result in results:
        verdict = "" if result.name == BASELINE else ("met" if own[result.name] <= GOAL else "MISSED")
        lines.append(
            f"{result.name:<18} {result.route:<38} {result.own * 1000:>6.0f} {own.get(result.name, 1.0):>5.2f}x"
            f"  {verdict:<7}{result.wall * 1000:>8.0f} {wall.get(result.name, 1.0):>5.2f}x"
            f" {result.cpu * 1000:>7.0f} {cpu.get(result.name, 1.0):>5.2f}x {result.calls:>5} {result.compiled:>8}"
        )
    lines.append(f"medians of {runs} fresh processes each; own: wall time minus moto's time answering (the goal)")
    lines.append("calls: AWS requests made; compiled: modules of the artifacts compiled from source (0: the .pyc ran)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--without-bytecode", action="store_true", help="drop the artifacts' __pycache__ first")
    args = parser.parse_args(argv)
    results = measure(args.runs, bytecode=not args.without_bytecode)
    if args.json:
        print(json.dumps([dataclasses.asdict(result) for result in results]))
    else:
        print(table(results, args.runs))


if __name__ == "__main__":
    main()
