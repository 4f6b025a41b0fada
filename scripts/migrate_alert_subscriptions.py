"""Give existing digest subscriptions the filter policy with ``kind`` in [digest, alert] (DESIGN 7); safe to rerun.

Usage: PYTHONPATH=layers/core .venv/bin/python scripts/migrate_alert_subscriptions.py <topic-arn>
(AWS credentials and region from the environment, as for the AWS CLI). Prints counts only, never an address.
"""

from __future__ import annotations

import sys

import boto3
from lemtrada.services.sweep_subscriptions import migrate_filter_policies


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report = migrate_filter_policies(boto3.client("sns"), argv[1])
    print(f"updated {report.updated}, already current {report.current}, skipped {report.skipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
