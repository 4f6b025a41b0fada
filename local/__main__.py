"""`python -m local`: run the local stack until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from local.dynamodb import StartError
from local.stack import ROOT, LocalStack, StackConfig


class _Stop(Exception):
    """Raised in the main thread by the SIGTERM handler so that shutdown runs the same path as Ctrl-C."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def parse_args(argv: list[str]) -> StackConfig:
    """Command line and environment (PORT, as `sam local start-api`) into a StackConfig."""
    parser = argparse.ArgumentParser(prog="python -m local", description="Run the service locally.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--dynamodb-port", type=int, default=int(os.environ.get("LOCAL_DYNAMODB_PORT", "8000")))
    parser.add_argument("--sns-port", type=int, default=int(os.environ.get("LOCAL_SNS_PORT", "4575")))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("LOCAL_DATA_DIR", str(ROOT / ".local"))),
        help="signing key, DynamoDB Local's files and log (default: .local/)",
    )
    parser.add_argument("--in-memory", action="store_true", help="keep DynamoDB data in memory only")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    args = parser.parse_args(argv)
    return StackConfig(
        port=args.port,
        dynamodb_port=args.dynamodb_port,
        sns_port=args.sns_port,
        data_dir=args.data_dir.resolve(),
        in_memory=args.in_memory,
        template=args.template.resolve(),
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    """Start, serve, stop; a start failure is one line on stderr and exit code 1."""
    config = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C and `kill -INT` must stop the stack anyway.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = LocalStack(config)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        stack.serve_forever()
    except StartError as error:
        print(f"local stack: {error}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, _Stop):
        print("stopping the local stack", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
