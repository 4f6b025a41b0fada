"""The whole local stack (`python -m local`) as a child process, shared by the tiers that talk to it over HTTP.

tests/e2e and tests/browser (and the security tier's token tests) import `start_stack` and the session fixtures
from here, so every tier starts the stack the same way.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port

READY_PREFIX = "Local stack ready:"
START_TIMEOUT = 90.0


@dataclass
class RunningStack:
    """A started `python -m local` child: its ports, its process and what it printed."""

    process: subprocess.Popen[str]
    port: int
    dynamodb_port: int
    sns_port: int
    startup_seconds: float
    output: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The HTTP front."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def sns_endpoint(self) -> str:
        """moto's server (for publishing from a test as the sweep would)."""
        return f"http://127.0.0.1:{self.sns_port}"

    def token(self, role: str, sub: str | None = None, clinic_id: str | None = None) -> str:
        """A signed local ID token from `POST /_local/token`."""
        body: dict[str, str] = {"role": role}
        if sub is not None:
            body["sub"] = sub
        if clinic_id is not None:
            body["clinic_id"] = clinic_id
        response = requests.post(f"{self.base_url}/_local/token", json=body, timeout=10)
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    def headers(self, role: str, sub: str | None = None, clinic_id: str | None = None) -> dict[str, str]:
        """An Authorization header for one role."""
        return {"Authorization": f"Bearer {self.token(role, sub=sub, clinic_id=clinic_id)}"}

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Send sig (Ctrl-C by default) and wait; kill if it does not stop in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def _ignore_sigint() -> None:
    """In the child: what a shell does to a background job (SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_stack(
    data_dir: Path,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
    *,
    as_background_job: bool = False,
    dynamodb_port: int | None = None,
    sns_port: int | None = None,
) -> RunningStack:
    """Start `python -m local` on free ports (or the given ones) with data in data_dir; return once it is ready."""
    port = port or free_port()
    dynamodb_port, sns_port = dynamodb_port or free_port(), sns_port or free_port()
    command = [
        sys.executable,
        "-m",
        "local",
        "--port",
        str(port),
        "--dynamodb-port",
        str(dynamodb_port),
        "--sns-port",
        str(sns_port),
        "--data-dir",
        str(data_dir),
        "--quiet",
        *extra_args,
    ]
    env = {name: value for name, value in os.environ.items() if name != "PORT"}
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ignore_sigint if as_background_job else None,  # noqa: PLW1509 - one signal call
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    deadline = started + START_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            raise RuntimeError("the local stack did not get ready in time:\n" + "".join(output)) from None
        if line is None:
            process.wait()
            raise RuntimeError(f"the local stack exited with {process.returncode}:\n" + "".join(output))
        output.append(line)
        if line.startswith(READY_PREFIX):
            break
    stack = RunningStack(process, port, dynamodb_port, sns_port, time.monotonic() - started, output)

    def keep_reading() -> None:
        while (line := lines.get()) is not None:
            stack.output.append(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    return stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The local stack for the whole session: in-memory DynamoDB, a temporary data dir, stopped at the end."""
    stack = start_stack(tmp_path_factory.mktemp("local-stack"), extra_args=("--in-memory",))
    sys.stderr.write(f"\nlocal stack started in {stack.startup_seconds:.1f} s\n")
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def base_url(local_stack: RunningStack) -> str:
    """Base URL of the running local stack."""
    return local_stack.base_url
