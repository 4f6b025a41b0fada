"""Cold start: importing and initialising each function's handler module in a fresh interpreter.

For every ``functions/<name>/app.py``: a new Python process with ``layers/core`` and the function's folder on
the path (as Lambda puts ``/opt/python`` and the task root) and the environment the template gives the function
(Globals plus its own variables, resolved locally; dummy credentials) times ``import app`` inside the process.
The reference, timed the same way in the same run: ``import boto3; boto3.client("dynamodb")``. Medians of
``runs`` processes each, run interleaved so drift of the machine hits all alike.

    .venv/bin/python -m bench.cold_start [--runs 15]
"""

from __future__ import annotations

import argparse
import json
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

_PROBE = """
import sys, time
started = time.perf_counter()
{body}
print(time.perf_counter() - started)
"""
_FUNCTION_BODY = "import app"
_BASELINE_BODY = 'import boto3\nboto3.client("dynamodb")'


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


def measure(runs: int = 15) -> dict[str, float]:
    """Median seconds per probe over ``runs`` fresh processes (one warm-up run each is discarded)."""
    all_probes = probes()
    for probe in all_probes:
        run_once(probe)  # warm the file system cache and any bytecode
    samples: dict[str, list[float]] = {probe.name: [] for probe in all_probes}
    for _ in range(runs):
        for probe in all_probes:
            samples[probe.name].append(run_once(probe))
    return {name: statistics.median(values) for name, values in samples.items()}


def table(medians: dict[str, float], runs: int) -> str:
    base = medians[BASELINE]
    lines = [f"{'module':<16} {'median ms':>10} {'vs boto3+client':>16}   ({runs} fresh processes each)"]
    for name, seconds in medians.items():
        lines.append(f"{name:<16} {seconds * 1000:>10.0f} {seconds / base:>15.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    medians = measure(args.runs)
    print(json.dumps(medians) if args.json else table(medians, args.runs))


if __name__ == "__main__":
    main()
