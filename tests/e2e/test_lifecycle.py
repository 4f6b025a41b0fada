"""Starting and stopping the local stack: no orphaned Java process, a clear message for a busy port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e


def _dynamodb_local_pids(port: int) -> list[int]:
    """Processes running DynamoDB Local on port (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(argument.endswith(b"DynamoDBLocal.jar") for argument in arguments) and str(port).encode() in arguments:
            pids.append(int(entry.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


pytestmark_linux = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc")


@pytestmark_linux
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_stack_leaves_no_child_process(tmp_path: Path, sig: int) -> None:
    stack = start_stack(tmp_path)
    java = _dynamodb_local_pids(stack.dynamodb_port)
    assert java, "DynamoDB Local should run while the stack does"

    code = stack.stop(sig)

    assert code == 0, "".join(stack.output)
    assert _wait_gone(java) == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.base_url}/health", timeout=2)


def test_ctrl_c_stops_the_stack_even_started_as_a_background_job(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, extra_args=("--in-memory",), as_background_job=True)

    assert stack.stop(signal.SIGINT, timeout=20) == 0, "".join(stack.output)


@pytestmark_linux
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_java_stops_even_when_the_stack_is_killed(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    java = _dynamodb_local_pids(stack.dynamodb_port)

    stack.stop(signal.SIGKILL)

    assert _wait_gone(java) == []


def test_data_persists_across_restarts_in_the_data_folder(tmp_path: Path) -> None:
    first = start_stack(tmp_path)
    try:
        token = first.token("admins")
    finally:
        assert first.stop() == 0
    assert (tmp_path / "dynamodb" / "shared-local-instance.db").exists()

    second = start_stack(tmp_path)
    try:
        # The same signing key is kept, so a token of the first run is still accepted.
        response = requests.get(f"{second.base_url}/health", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200, response.text
    finally:
        assert second.stop() == 0


def test_the_stack_restarts_at_once_on_the_same_ports(tmp_path: Path) -> None:
    first = start_stack(tmp_path)
    ports = (first.port, first.dynamodb_port, first.sns_port)
    try:
        headers = first.headers("admins")
        for _ in range(3):  # the front, DynamoDB Local and moto all serve (and later close) connections
            assert requests.get(f"{first.base_url}/health", headers=headers, timeout=10).status_code == 200
    finally:
        assert first.stop() == 0

    # Straight after Ctrl-C the closed connections linger in TIME_WAIT; nothing listens, so the stack starts.
    second = start_stack(tmp_path, ports[0], dynamodb_port=ports[1], sns_port=ports[2])
    try:
        assert (second.port, second.dynamodb_port, second.sns_port) == ports
        response = requests.get(f"{second.base_url}/health", headers=second.headers("admins"), timeout=10)
        assert response.status_code == 200, response.text
    finally:
        assert second.stop() == 0


@pytest.mark.parametrize("busy_part", ["front", "dynamodb", "sns"])
def test_a_busy_port_gives_one_clear_line_and_a_non_zero_exit(tmp_path: Path, busy_part: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"front": free_port(), "dynamodb": free_port(), "sns": free_port(), busy_part: port}
        env = {**os.environ, "PORT": str(ports["front"])}

        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "local",
                "--data-dir",
                str(tmp_path),
                "--dynamodb-port",
                str(ports["dynamodb"]),
                "--sns-port",
                str(ports["sns"]),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0]
    assert "already in use" in lines[0]
