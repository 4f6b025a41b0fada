"""Hourly sweep runs (DESIGN 8, each clinic at its own ``digest_hour``) against one daily run, on DynamoDB Local.

Both sweep the same 2,000 realistic patients of 40 clinics in 12 time zones (two identical tables): the daily run
is one execution for a forced date (every clinic at once, round 1's work); the hourly side is 24 executions, one
per UTC hour, each taking the clinics whose local morning it is. Each execution runs the state machine's real
definition (`local.states`, from the translated template) on the product's service, so Step Functions state
transitions and Lambda invocations are counted as the definition makes them; read and write units are
DynamoDB's ``ConsumedCapacity`` of every call.

    .venv/bin/python -m bench.sweep_hours [--patients 2000] [--due 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT / "layers" / "core") not in sys.path:
    sys.path.insert(0, str(_ROOT / "layers" / "core"))

from lemtrada.regimen.records import Clinic, Label  # noqa: E402
from lemtrada.services.sweep import RunPlan, SweepService  # noqa: E402
from lemtrada.storage.outbox import DynamoOutbox  # noqa: E402
from lemtrada.storage.ports import AuditEntry  # noqa: E402
from lemtrada.storage.repository import DynamoPatientRepository  # noqa: E402

from bench import sweep_cost  # noqa: E402
from bench.localdb import REGION, LocalDynamo, local_dynamodb  # noqa: E402
from local.states import Interpreter  # noqa: E402
from local.template import LocalContext, Resolver, load_template  # noqa: E402
from local.translation import state_machine_definition, translate  # noqa: E402
from tests.support.memory import InMemoryDigestPublisher  # noqa: E402

DAY = sweep_cost.TARGET
ZONES = (  # 12 zones whose 06:00 on DAY falls within one UTC day of runs
    "Pacific/Auckland",
    "Australia/Sydney",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/Moscow",
    "Europe/Berlin",
    "Europe/London",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
)
FIRST_HOUR = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) - timedelta(hours=10)
_FUNCTIONS = ("SweepPlanFunction", "SweepWorkerFunction", "SweepPublishFunction")
_READS = {"Query", "GetItem", "BatchGetItem", "TransactGetItems", "Scan"}


class Units:
    """Read and write units of every call a client makes (its responses' ``ConsumedCapacity``)."""

    def __init__(self, client: Any) -> None:
        self.read = self.write = 0.0
        client.meta.events.register("after-call.dynamodb", self._count)

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        entries = consumed if isinstance(consumed, list) else [consumed]
        units = sum(float(entry.get("CapacityUnits", 0.0)) for entry in entries)
        if model.name in _READS:
            self.read += units
        else:
            self.write += units


@dataclass
class Side:
    name: str
    executions: int = 0
    transitions: int = 0
    invocations: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    digests: int = 0
    seconds: float = 0.0

    def row(self) -> str:
        return (
            f"| {self.name} | {self.executions} | {self.transitions} | {self.invocations} | {self.read_units:,.1f}"
            f" | {self.write_units:,.1f} | {self.digests} | {self.seconds:.1f} |"
        )


def _definition() -> dict[str, Any]:
    template = translate(load_template(_ROOT / "template.yaml"), _ROOT, {"Stage": "bench"})
    context = LocalContext(parameters={"Stage": "bench"})
    for name in _FUNCTIONS:
        context.attributes[(name, "Arn")] = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    return state_machine_definition(template, Resolver(template, context), "SweepStateMachine")


def _table(db: LocalDynamo, patients: int, due: int, digest_hour: int) -> str:
    table = db.regimen_table("bench-hours")
    repository = DynamoPatientRepository(table, host=db.endpoint, region=REGION, due_shards=sweep_cost.SHARDS)
    audit = AuditEntry("bench", "admins", datetime(2025, 1, 1, tzinfo=UTC), "clinic.saved", "bench")
    for n in range(1, sweep_cost.CLINICS + 1):
        zone = ZONES[n % len(ZONES)]
        repository.save_clinic(Clinic(f"clinic-{n}", f"MS clinic {n}", zone, Label.US, digest_hour), None, audit)
    population = sweep_cost.due_and_quiet(patients, due, 23, DAY - timedelta(days=1), DAY)
    sweep_cost.load(db, table, population)
    return table


def _run(db: LocalDynamo, table: str, side: Side, inputs: list[dict[str, str]]) -> None:
    client = db.new_client()
    units = Units(client)
    repository = DynamoPatientRepository(table, region=REGION, due_shards=sweep_cost.SHARDS, client=client)
    publisher = InMemoryDigestPublisher()
    service = SweepService(repository, DynamoOutbox(table, client=client), publisher)

    def invoke(function: str, payload: Any) -> Any:
        side.invocations += 1
        name = function.rsplit(":", 1)[-1]
        if name == "SweepPlanFunction":
            result: Any = service.plan(payload).to_json()
        elif name == "SweepWorkerFunction":
            result = service.sweep_shard(payload["shard"], RunPlan.clinics_from_json(payload["clinics"])).to_json()
        else:
            clinics = payload.get("clinics")
            plan = RunPlan.clinics_from_json(clinics) if clinics is not None else None
            result = service.publish(plan, payload.get("run_id")).to_json()
        return json.loads(json.dumps(result))

    definition = _definition()
    started = time.perf_counter()
    for n, execution_input in enumerate(inputs):
        interpreter = Interpreter(definition, invoke)
        interpreter.run(execution_input, execution_id=f"{side.name}-{n}")
        side.executions += 1
        side.transitions += len(interpreter.visited)
    side.seconds = time.perf_counter() - started
    side.read_units, side.write_units, side.digests = units.read, units.write, len(publisher.sent)


def measure(db: LocalDynamo, patients: int = 2000, due: int = 300) -> tuple[Side, Side]:
    daily, hourly = Side("one daily run (forced date, every clinic)"), Side("24 hourly runs (digest_hour 6)")
    table = _table(db, patients, due, 0)
    _run(db, table, daily, [{"date": DAY.isoformat()}])
    db.drop(table)
    table = _table(db, patients, due, 6)
    hours = [{"now": (FIRST_HOUR + timedelta(hours=n)).isoformat()} for n in range(24)]
    _run(db, table, hourly, hours)
    db.drop(table)
    return daily, hourly


def table(daily: Side, hourly: Side) -> str:
    lines = [
        "| side | executions | state transitions | Lambda invocations | read units | write units | digests | s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        daily.row(),
        hourly.row(),
    ]
    ratio = (hourly.read_units / daily.read_units) if daily.read_units else float("nan")
    lines.append(
        f"hourly/daily: read units {ratio:.2f}x, write units"
        f" {(hourly.write_units / daily.write_units) if daily.write_units else float('nan'):.2f}x,"
        f" transitions {hourly.transitions / max(daily.transitions, 1):.1f}x"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--due", type=int, default=300)
    args = parser.parse_args(argv)
    with local_dynamodb() as db:
        print(table(*measure(db, args.patients, args.due)))


if __name__ == "__main__":
    main()
