"""The minute drain of owed alerts in template.yaml (DESIGN 7): its schedule, dead-letter queue, alarms, and the
timeouts the claims' leases rely on (a holder is dead or done before its lease runs out)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from lemtrada.notify.publisher import PUBLISH_BOUND
from lemtrada.services.alerts import DRAIN_LEASE
from lemtrada.storage.alert_items import WRITER_LEASE

from tests.unit.test_template import FUNCTIONS, GLOBAL_FUNCTION, RESOURCES, ROOT

DRAIN = FUNCTIONS["AlertDrainFunction"]["Properties"]
APP = (ROOT / "functions" / "alert_drain" / "app.py").read_text(encoding="utf-8")


def _timeout(name: str) -> int:
    return int(FUNCTIONS[name]["Properties"].get("Timeout", GLOBAL_FUNCTION["Timeout"]))


def test_the_drain_runs_every_minute_with_a_dead_letter_queue_for_runs_that_fail_or_cannot_start() -> None:
    ((event_name, event),) = DRAIN["Events"].items()
    assert event["Type"] == "ScheduleV2"
    schedule = event["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AlertDrainDeadLetterQueue", "Arn"]}}
    assert schedule["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 60  # a later retry is the next minute's run
    queue = {"Fn::GetAtt": ["AlertDrainDeadLetterQueue", "Arn"]}
    assert DRAIN["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": queue}
    assert DRAIN["EventInvokeConfig"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    role = RESOURCES[schedule["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert {(s["Action"], s["Resource"]["Fn::GetAtt"][0]) for s in statements} == {
        ("lambda:InvokeFunction", "AlertDrainFunction"),
        ("sqs:SendMessage", "AlertDrainDeadLetterQueue"),
    }
    assert event_name == "EveryMinute"


def test_leases_outlast_every_holder() -> None:
    """The writer (recording function), a drain (this function) and one publish call are all over before the claim
    they hold runs out, so no second deliverer takes an alert its holder may still publish."""
    assert timedelta(seconds=PUBLISH_BOUND) < min(WRITER_LEASE, DRAIN_LEASE)
    assert timedelta(seconds=_timeout("RecordingFunction")) < WRITER_LEASE
    assert timedelta(seconds=_timeout("AlertDrainFunction")) < DRAIN_LEASE


def _alarm(name: str) -> dict[str, Any]:
    alarm = RESOURCES[name]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    props: dict[str, Any] = alarm["Properties"]
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    return props


def test_alarms_read_the_metric_the_drain_emits_with_the_dimensions_powertools_gives_it() -> None:
    env = GLOBAL_FUNCTION["Environment"]["Variables"]
    emitted = set(re.findall(r'add_metric\(name="(\w+)"', APP))
    for name in ("AlertWaitingAlarm", "AlertDrainNotRunningAlarm"):
        props = _alarm(name)
        assert props["MetricName"] in emitted
        assert props["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
        assert props["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    waiting = _alarm("AlertWaitingAlarm")
    assert (waiting["MetricName"], waiting["Statistic"]) == ("OldestOwedAlertSeconds", "Maximum")
    assert waiting["Threshold"] == 300
    assert waiting["ComparisonOperator"] == "GreaterThanThreshold"
    silent = _alarm("AlertDrainNotRunningAlarm")
    assert (silent["Statistic"], silent["TreatMissingData"], silent["ComparisonOperator"]) == (
        "SampleCount",
        "breaching",
        "LessThanThreshold",
    )
    assert silent["Period"] * silent["EvaluationPeriods"] <= 300


def test_dead_letter_queue_depth_alarms() -> None:
    props = _alarm("AlertDrainDeadLetterAlarm")
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["AlertDrainDeadLetterQueue", "QueueName"]}}
    ]
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    queue = RESOURCES["AlertDrainDeadLetterQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == "alias/aws/sqs"  # no RegimenKey grant for the roles that send to it
    assert queue["MessageRetentionPeriod"] == 1209600


def test_the_drain_keeps_its_template_resources_in_one_block() -> None:
    text = Path(ROOT / "template.yaml").read_text(encoding="utf-8")
    names = [n for n in RESOURCES if n.startswith(("AlertDrain", "AlertWaiting"))]
    positions = sorted(text.index(f"\n  {n}:\n") for n in names)
    between = text[positions[0] : positions[-1]]
    others = [n for n in RESOURCES if n not in names and f"\n  {n}:\n" in between]
    assert others == []
