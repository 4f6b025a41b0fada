"""Cold start: importing and initialising each function's handler module in a fresh interpreter.

For every ``functions/<name>/app.py``: a new Python process with ``layers/core`` and the function's folder on
the path (as Lambda puts ``/opt/python`` and the task root) and the environment the template gives the function
(Globals plus its own variables, resolved locally; dummy credentials) times ``import app`` inside the process.
The reference, timed the same way in the same run: ``import boto3; boto3.client("dynamodb")``. Medians of
``runs`` processes each, run interleaved so drift of the machine hits all alike.

``--first-request`` times, in each fresh process, ``import app`` plus the handler answering one representative
sample event of ``events/`` (a write with a new Idempotency-Key for the writers, so Powertools' idempotency and boto3
load as they do on a cold write), against moto's server on loopback (tables from template.yaml, a clinic and a
patient seeded first); the reference is ``import boto3``, a DynamoDB client and one GetItem on the same server.

    .venv/bin/python -m bench.cold_start [--runs 15] [--first-request]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from local.functions import read_functions
from local.template import LocalContext, Resolver, load_template, resources_of_type

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "layers" / "core"
BASELINE = "boto3 + client"
BASELINE_REQUEST = "boto3+client+call"

_PROBE = """
import sys, time
started = time.perf_counter()
{body}
print(time.perf_counter() - started)
"""
_FUNCTION_BODY = "import app"
_BASELINE_BODY = 'import boto3\nboto3.client("dynamodb")'
# One request per HTTP function: the sample event (patient id swapped for the seeded one), timed with the import.
FIRST_REQUESTS = {
    "enrollment": "enrollment/post_patients",
    "health": "health/get_health",
    "reading": "reading/get_patient",
    "recording": "recording/post_result",
    "subscriptions": "subscriptions/post_subscription",
}
SAMPLE_PATIENT = "3f6c0e9a8b2d4c71a5e4f0b9d8c7a6e5"
_CONTEXT = """
class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "5b2f5e0c-8a8e-4b0e-9d6f-1f2a3b4c5d6e"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 5000
"""
_FIRST_REQUEST_PROBE = """
import json, sys, time, uuid
event = json.loads({event!r})
if "idempotency-key" in event.get("headers", {{}}):
    event["headers"]["idempotency-key"] = uuid.uuid4().hex
if '"patient_sub"' in (event.get("body") or ""):  # a new user each time: a user links to one patient only
    body = json.loads(event["body"])
    body["patient_sub"] = str(uuid.uuid4())
    event["body"] = json.dumps(body)


{context}started = time.perf_counter()
import app
answer = app.handler(event, Context())
elapsed = time.perf_counter() - started
if int(answer["statusCode"]) >= 300:
    sys.exit("unexpected answer: " + json.dumps(answer)[:500])
print(json.dumps(answer)[:0])
print(elapsed)
"""
_BASELINE_REQUEST_BODY = (
    'import boto3\nclient = boto3.client("dynamodb")\n'
    'client.get_item(TableName="RegimenTable", Key={"pk": {"S": "CLINIC"}, "sk": {"S": "lyon-neuro"}})'
)


@dataclass(frozen=True)
class Probe:
    name: str
    code: str
    path: list[str]
    environment: dict[str, str]


def _environment(extra: dict[str, str]) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG", "TMPDIR")}
    fake = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return {**keep, **fake, **extra}


def probes() -> list[Probe]:
    """One probe per function of the template (its environment resolved locally) and the boto3 reference."""
    template = load_template(ROOT / "template.yaml")
    refs = {logical_id: logical_id for logical_id in (template.get("Resources") or {})}
    for logical_id in resources_of_type(template, "AWS::SNS::Topic"):
        refs[logical_id] = f"arn:aws:sns:us-east-1:123456789012:{logical_id}"
    resolver = Resolver(template, LocalContext(refs=refs, parameters={"Stage": "bench"}))
    found = [
        Probe(
            name=spec.code_uri.name,
            code=_PROBE.format(body=_FUNCTION_BODY),
            path=[str(spec.code_uri), str(CORE)],
            environment=_environment(
                {
                    **spec.environment,
                    "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
                    "LAMBDA_TASK_ROOT": str(spec.code_uri),
                }
            ),
        )
        for spec in read_functions(template, resolver, ROOT).values()
        if spec.module_file.name == "app.py"
    ]
    found.sort(key=lambda probe: probe.name)
    baseline = Probe(BASELINE, _PROBE.format(body=_BASELINE_BODY), [], _environment({}))
    return [baseline, *found]


def first_request_probes(endpoint: str, patient_id: str) -> list[Probe]:
    """import + one request per HTTP function, and boto3 import + client + GetItem, all against ``endpoint``."""
    by_name = {probe.name: probe for probe in probes()}
    extra = {"AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    found = []
    for name, event_name in FIRST_REQUESTS.items():
        probe = by_name[name]
        event = (ROOT / "events" / f"{event_name}.json").read_text(encoding="utf-8").replace(SAMPLE_PATIENT, patient_id)
        code = _FIRST_REQUEST_PROBE.format(event=json.dumps(json.loads(event)), context=_CONTEXT)
        found.append(Probe(f"{name} 1st", code, probe.path, {**probe.environment, **extra}))
    body = _PROBE.format(body=_BASELINE_REQUEST_BODY)
    return [Probe(BASELINE_REQUEST, body, [], _environment(extra)), *found]


def _seed(endpoint: str) -> str:
    """Tables and topic from the template on moto's server, the sample clinic and one enrolled patient."""
    import boto3  # noqa: PLC0415 - only this mode needs a client here

    from local.tables import ensure_tables, local_table_names, table_specs  # noqa: PLC0415

    template = load_template(ROOT / "template.yaml")
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    for logical_id in resources_of_type(template, "AWS::SNS::Topic"):
        session.client("sns", endpoint_url=endpoint).create_topic(Name=logical_id)
    names = local_table_names(template)
    resolver = Resolver(template, LocalContext(refs=dict(names), parameters={"Stage": "bench"}))
    ensure_tables(session.client("dynamodb", endpoint_url=endpoint), table_specs(template, resolver, names))
    enrollment = next(probe for probe in probes() if probe.name == "enrollment")
    code = (
        f"import json, app\n{_CONTEXT}\n"
        "answers = [app.handler(json.load(open(path)), Context()) for path in sys.argv[1:]]\n"
        "print(json.loads(answers[-1]['body'])['patient_id'])"
    )
    environment = {**enrollment.environment, "AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    environment["PYTHONPATH"] = os.pathsep.join(enrollment.path)
    events = [str(ROOT / "events" / "enrollment" / f"{name}.json") for name in ("put_clinic", "post_patients")]
    output = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code, *events],
        cwd=enrollment.path[0],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return output.stdout.strip().splitlines()[-1]


def run_once(probe: Probe) -> float:
    environment = dict(probe.environment)
    environment["PYTHONPATH"] = os.pathsep.join(probe.path)
    # -S would hide site-packages (where Lambda's boto3 stands in); -I is not used for the same reason.
    output = subprocess.run(
        [sys.executable, "-c", probe.code],
        cwd=probe.path[0] if probe.path else ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"{probe.name}: import failed:\n{output.stderr[-2000:]}")
    return float(output.stdout.strip().splitlines()[-1])


def measure(runs: int = 15, all_probes: list[Probe] | None = None) -> dict[str, float]:
    """Median seconds per probe over ``runs`` fresh processes (one warm-up run each is discarded)."""
    all_probes = probes() if all_probes is None else all_probes
    for probe in all_probes:
        run_once(probe)  # warm the file system cache and any bytecode
    samples: dict[str, list[float]] = {probe.name: [] for probe in all_probes}
    for _ in range(runs):
        for probe in all_probes:
            samples[probe.name].append(run_once(probe))
    return {name: statistics.median(values) for name, values in samples.items()}


def measure_first_request(runs: int = 15) -> dict[str, float]:
    """``measure`` of import + one request per HTTP function, on moto's server on a free loopback port."""
    import socket  # noqa: PLC0415

    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - a dev dependency, only for this mode

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        return measure(runs, first_request_probes(endpoint, _seed(endpoint)))
    finally:
        server.stop()


def table(medians: dict[str, float], runs: int) -> str:
    base_name = BASELINE if BASELINE in medians else BASELINE_REQUEST
    base = medians[base_name]
    lines = [f"{'module':<18} {'median ms':>10} {'vs ' + base_name:>20}   ({runs} fresh processes each)"]
    for name, seconds in medians.items():
        lines.append(f"{name:<18} {seconds * 1000:>10.0f} {seconds / base:>19.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--first-request", action="store_true", help="import + one request, on moto's server")
    args = parser.parse_args(argv)
    medians = measure_first_request(args.runs) if args.first_request else measure(args.runs)
    print(json.dumps(medians) if args.json else table(medians, args.runs))


if __name__ == "__main__":
    main()
